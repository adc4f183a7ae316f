"""The snapshot's inputs, read and validated in one place: the Lambda event and its environment.

Every error names the field or the variable that is wrong, and is raised before any AWS call.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from backup_lambda.errors import ConfigError
from backup_lambda.quotas import DEFAULT_REQUEST_BUDGET
from backup_lambda.redact import parse_attribute_list
from backup_lambda.snapshot import validate_budget, validate_pool_name, validate_prefix, validate_user_pool_id
from backup_lambda.snapshot_format import CHECKPOINT_DIR

BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
KMS_KEY_RE = re.compile(
    r"^(arn:aws[\w-]*:kms:[a-z0-9-]+:\d{12}:(key|alias)/[\w/+=,.@-]+"
    r"|alias/[\w/+=,.@-]+|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|mrk-[0-9a-f]{32})$"
)
ATTRIBUTE_NAME_RE = re.compile(r"^[\w:.-]{1,64}$")
EVENT_KEYS = {"user_pool_id", "pool_name"}
CONTINUATION_KEYS = {"checkpoint_key", "generation"}


@dataclass(frozen=True)
class SnapshotRequest:
    user_pool_id: str
    pool_name: str | None = None


@dataclass(frozen=True)
class ContinuationRequest:
    """The event a snapshot sends to its own function to carry on from a checkpoint."""

    checkpoint_key: str
    generation: int


@dataclass(frozen=True)
class Settings:
    bucket: str
    kms_key_id: str | None = None
    prefix: str = ""
    exclude_attributes: frozenset[str] = frozenset()
    request_budget: float = DEFAULT_REQUEST_BUDGET


def parse_event(event: Any, prefix: str = "") -> SnapshotRequest | ContinuationRequest:
    """``{"user_pool_id": "<id>", "pool_name": "<name>"}``; pool_name is optional.

    A snapshot that spans several runs invokes its function with ``{"checkpoint_key": "<prefix>
    .checkpoints/...json", "generation": n}``: accepted only for keys under the checkpoint folder.
    """
    if not isinstance(event, Mapping):
        raise ConfigError(f"event must be a JSON object like {{\"user_pool_id\": ...}}, got {type(event).__name__}")
    if "checkpoint_key" in event:
        return _parse_continuation(event, prefix)
    unknown = sorted(str(k)[:40] for k in event if k not in EVENT_KEYS)
    if unknown:
        raise ConfigError(f"event has unknown field(s) {unknown}; expected {sorted(EVENT_KEYS)}")
    if "user_pool_id" not in event:
        raise ConfigError("event field user_pool_id is required")
    pool_id = validate_user_pool_id(event["user_pool_id"], "event field user_pool_id")
    name = event.get("pool_name")
    if name is not None:
        name = validate_pool_name(name, "event field pool_name")
    return SnapshotRequest(pool_id, name)


def _parse_continuation(event: Mapping, prefix: str) -> ContinuationRequest:
    unknown = sorted(str(k)[:40] for k in event if k not in CONTINUATION_KEYS)
    if unknown:
        raise ConfigError(f"continuation event has unknown field(s) {unknown}; expected {sorted(CONTINUATION_KEYS)}")
    key = event["checkpoint_key"]
    folder = f"{prefix}{CHECKPOINT_DIR}"
    if (not isinstance(key, str) or not key.startswith(folder) or not key.endswith(".json")
            or "/" in key[len(folder):] or len(key) > 1024):
        raise ConfigError(f"event field checkpoint_key must be a .json key directly under {folder!r}")
    generation = event.get("generation")
    if not isinstance(generation, int) or isinstance(generation, bool) or generation < 1:
        raise ConfigError("event field generation must be a positive integer")
    return ContinuationRequest(key, generation)


def validate_bucket(value: Any, field: str) -> str:
    if not isinstance(value, str) or not BUCKET_RE.fullmatch(value):
        raise ConfigError(f"{field} must be an S3 bucket name (3-63 lower-case letters, digits, '.', '-'), "
                          f"got {value!r}")
    return value


def validate_kms_key(value: Any, field: str) -> str | None:
    if value in (None, ""):
        return None
    if not isinstance(value, str) or not KMS_KEY_RE.fullmatch(value):
        raise ConfigError(f"{field} must be a KMS key id, key ARN, alias name or alias ARN, got {value!r}")
    return value


def validate_attributes(value: Any, field: str) -> frozenset[str]:
    names = parse_attribute_list(value)
    bad = sorted(n for n in names if not ATTRIBUTE_NAME_RE.fullmatch(n))
    if bad:
        raise ConfigError(f"{field} has invalid attribute name(s) {bad}; expected e.g. custom:ssn,phone_number")
    if "sub" in names:
        raise ConfigError(f"{field} cannot exclude 'sub': it identifies users across snapshots")
    return names


def load_settings(environ: Mapping[str, str]) -> Settings:
    bucket = environ.get("BACKUP_BUCKET")
    if not bucket:
        raise ConfigError("environment variable BACKUP_BUCKET is required (the snapshot bucket's name)")
    budget_raw = environ.get("REQUEST_BUDGET") or DEFAULT_REQUEST_BUDGET
    return Settings(
        bucket=validate_bucket(bucket, "BACKUP_BUCKET"),
        kms_key_id=validate_kms_key(environ.get("KMS_KEY_ID"), "KMS_KEY_ID"),
        prefix=validate_prefix(environ.get("SNAPSHOT_PREFIX", ""), "SNAPSHOT_PREFIX"),
        exclude_attributes=validate_attributes(environ.get("EXCLUDE_ATTRIBUTES"), "EXCLUDE_ATTRIBUTES"),
        request_budget=validate_budget(budget_raw, "REQUEST_BUDGET"),
    )
