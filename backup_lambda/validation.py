"""Every field rule of the project, defined once: the engine, the command line, the Pulumi program and
the bootstrap all validate with these functions, so nothing one accepts is refused by another.

Each ``validate_*`` takes the value and the name of the field it came from (an event field, an
environment variable, a flag, a stack key) and returns the normalised value, or raises
:class:`ConfigError` naming that field and quoting (a bounded part of) the value.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from typing import Any

from backup_lambda.errors import ConfigError

# us-east-1, eu-central-2, ap-southeast-5, us-gov-west-1 ...
REGION_PATTERN = r"[a-z]{2}(?:-[a-z]+)+-[0-9]{1,2}"
REGION_RE = re.compile(rf"^{REGION_PATTERN}$")
# A user pool id is its region, '_' and letters and digits (botocore: at most 55 characters).
USER_POOL_ID_RE = re.compile(rf"^(?P<region>{REGION_PATTERN})_(?P<suffix>[0-9A-Za-z]+)$")
MAX_USER_POOL_ID = 55
# A pool name as it appears in snapshot keys and as a CloudWatch dimension: ASCII, no '/', no space.
POOL_NAME_RE = re.compile(r"^[A-Za-z0-9_.+=,@-]{1,128}$")
PREFIX_RE = re.compile(r"^([A-Za-z0-9_.=@+-]+/)*$")
MAX_PREFIX = 512
KMS_KEY_RE = re.compile(
    r"^(arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:(key|alias)/[A-Za-z0-9_/+=,.@-]+"
    r"|alias/[A-Za-z0-9_/+=,.@-]+|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|mrk-[0-9a-f]{32})$"
)
ATTRIBUTE_NAME_RE = re.compile(r"^[A-Za-z0-9_:.-]{1,64}$")
MAX_REQUEST_BUDGET = 30.0  # Cognito's UserList quota (ListUsers + ListUsersInGroup), calls per second

# S3's naming rules for general purpose buckets.
_BUCKET_CHARS_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_BUCKET_RESERVED_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
_BUCKET_RESERVED_SUFFIXES = ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")


def shown(value: Any, limit: int = 80) -> str:
    """A value as quoted in an error message: never more than ``limit`` characters, whatever it is."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def validate_region(value: Any, field: str) -> str:
    if not isinstance(value, str) or not REGION_RE.fullmatch(value):
        raise ConfigError(f"{field} must be an AWS region name (e.g. eu-west-1), got {shown(value)}")
    return value


def validate_user_pool_id(value: Any, field: str = "user_pool_id") -> str:
    if not isinstance(value, str) or len(value) > MAX_USER_POOL_ID or not USER_POOL_ID_RE.fullmatch(value):
        raise ConfigError(f"{field} must look like '<region>_<alphanumerics>' (e.g. eu-west-1_AbC123), "
                          f"got {shown(value)}")
    return value


def pool_region(user_pool_id: str) -> str:
    """The region a (valid) user pool id names: ``eu-west-1_AbC123`` -> ``eu-west-1``."""
    match = USER_POOL_ID_RE.fullmatch(validate_user_pool_id(user_pool_id))
    assert match is not None  # validated above
    return match["region"]


def validate_pool_name(value: Any, field: str = "pool_name") -> str:
    if not isinstance(value, str) or not POOL_NAME_RE.fullmatch(value):
        raise ConfigError(f"{field} must be 1-128 ASCII letters, digits or _ . + = , @ - (no '/', no space), "
                          f"got {shown(value)}")
    return value


def validate_prefix(value: Any, field: str = "prefix") -> str:
    """A key prefix: path segments, normalised to end with '/' ("" for none)."""
    if value in (None, ""):
        return ""
    if not isinstance(value, str) or len(value) > MAX_PREFIX:
        raise ConfigError(f"{field} must be a string of at most {MAX_PREFIX} characters, got {shown(value)}")
    if not value.endswith("/"):
        value += "/"
    if not PREFIX_RE.fullmatch(value) or any(seg in (".", "..") for seg in value.split("/")):
        raise ConfigError(f"{field} must be path segments like 'backups/prod/', got {shown(value)}")
    return value


def bucket_name_problem(value: Any) -> str | None:
    """Why ``value`` is not a valid S3 bucket name (None when it is one)."""
    if not isinstance(value, str) or not _BUCKET_CHARS_RE.fullmatch(value):
        return "3-63 lower-case letters, digits, '.' and '-', starting and ending with a letter or digit"
    if ".." in value:
        return "no two adjacent periods"
    try:
        ipaddress.ip_address(value)
        return "not formatted as an IP address"
    except ValueError:
        pass
    if value.startswith(_BUCKET_RESERVED_PREFIXES):
        return f"not starting with {', '.join(_BUCKET_RESERVED_PREFIXES)} (reserved by S3)"
    if value.endswith(_BUCKET_RESERVED_SUFFIXES):
        return f"not ending with {', '.join(_BUCKET_RESERVED_SUFFIXES)} (reserved by S3)"
    return None


def validate_bucket(value: Any, field: str) -> str:
    problem = bucket_name_problem(value)
    if problem:
        raise ConfigError(f"{field} must be an S3 bucket name ({problem}), got {shown(value)}")
    return value


def validate_kms_key(value: Any, field: str) -> str | None:
    if value in (None, ""):
        return None
    if not isinstance(value, str) or not KMS_KEY_RE.fullmatch(value):
        raise ConfigError(f"{field} must be a KMS key id, key ARN, alias name or alias ARN, got {shown(value)}")
    return value


def parse_attribute_list(value: str | Iterable[str] | None) -> frozenset[str]:
    """``"custom:ssn, phone_number"`` -> {"custom:ssn", "phone_number"}."""
    if value is None:
        return frozenset()
    items = value.split(",") if isinstance(value, str) else list(value)
    return frozenset(i.strip() for i in items if isinstance(i, str) and i.strip())


def validate_attributes(value: Any, field: str) -> frozenset[str]:
    """Attribute names to leave out of every snapshot, as a comma-separated string or a list."""
    if value is not None and not isinstance(value, str | list | tuple | set | frozenset):
        raise ConfigError(f"{field} must be attribute names separated by commas, got {shown(value)}")
    if isinstance(value, list | tuple | set | frozenset) and not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{field} must hold attribute names (strings), got {shown(value)}")
    names = parse_attribute_list(value)
    bad = sorted(n for n in names if not ATTRIBUTE_NAME_RE.fullmatch(n))
    if bad:
        raise ConfigError(f"{field} has invalid attribute name(s) {shown(bad)}; expected e.g. custom:ssn,phone_number")
    if "sub" in names:
        raise ConfigError(f"{field} cannot exclude 'sub': it identifies users across snapshots")
    return names


def validate_budget(value: Any, field: str = "request_budget") -> float:
    """ListUsers/ListUsersInGroup calls per second: > 0 and at most Cognito's quota of 30."""
    if isinstance(value, bool):
        raise ConfigError(f"{field} must be a number of calls per second, got {shown(value)}")
    try:
        budget = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{field} must be a number of calls per second, got {shown(value)}") from None
    if not 0 < budget <= MAX_REQUEST_BUDGET:
        raise ConfigError(f"{field} must be > 0 and <= {MAX_REQUEST_BUDGET:g} (Cognito's UserList quota), "
                          f"got {shown(value)}")
    return budget
