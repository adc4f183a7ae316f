"""The snapshot's inputs, read and validated in one place: the Lambda event and its environment.

Every error names the field or the variable that is wrong, and is raised before any AWS call. The
names come from ``contract``, the rules from ``validation``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from backup_lambda.contract import (
    CONTINUATION_EVENT_KEYS,
    ENV_BUCKET,
    ENV_CAPTURE_USER_MFA,
    ENV_EXCLUDE_ATTRIBUTES,
    ENV_KMS_KEY,
    ENV_PREFIX,
    ENV_REQUEST_BUDGET,
    ENV_SIGNING_KEY,
    EVENT_CHECKPOINT_KEY,
    EVENT_GENERATION,
    EVENT_POOL_ID,
    EVENT_POOL_NAME,
    SNAPSHOT_EVENT_KEYS,
    ContinuationRequest,
    SnapshotRequest,
)
from backup_lambda.errors import ConfigError
from backup_lambda.quotas import DEFAULT_REQUEST_BUDGET
from backup_lambda.snapshot_format import CHECKPOINT_DIR
from backup_lambda.validation import (
    validate_attributes,
    validate_bucket,
    validate_budget,
    validate_kms_key,
    validate_pool_name,
    validate_prefix,
    validate_user_pool_id,
)

MAX_KEY_LENGTH = 1024  # S3's limit for an object key


@dataclass(frozen=True)
class Settings:
    bucket: str
    signing_key_id: str = ""
    kms_key_id: str | None = None
    prefix: str = ""
    exclude_attributes: frozenset[str] = frozenset()
    request_budget: float = DEFAULT_REQUEST_BUDGET
    capture_user_mfa: bool = False


def parse_event(event: Any, prefix: str = "") -> SnapshotRequest | ContinuationRequest:
    """``{"user_pool_id": "<id>", "pool_name": "<name>"}``; pool_name is optional.

    A snapshot that spans several runs invokes its function with ``{"checkpoint_key": "<prefix>
    .checkpoints/...json", "generation": n}``: accepted only for keys under the checkpoint folder.
    """
    if not isinstance(event, Mapping):
        raise ConfigError(f"event must be a JSON object like {{\"{EVENT_POOL_ID}\": ...}}, got {type(event).__name__}")
    if EVENT_CHECKPOINT_KEY in event:
        return _parse_continuation(event, prefix)
    unknown = sorted(str(k)[:40] for k in event if k not in SNAPSHOT_EVENT_KEYS)
    if unknown:
        raise ConfigError(f"event has unknown field(s) {unknown}; expected {sorted(SNAPSHOT_EVENT_KEYS)}")
    if EVENT_POOL_ID not in event:
        raise ConfigError(f"event field {EVENT_POOL_ID} is required")
    pool_id = validate_user_pool_id(event[EVENT_POOL_ID], f"event field {EVENT_POOL_ID}")
    name = event.get(EVENT_POOL_NAME)
    if name is not None:
        name = validate_pool_name(name, f"event field {EVENT_POOL_NAME}")
    return SnapshotRequest(pool_id, name)


def _parse_continuation(event: Mapping, prefix: str) -> ContinuationRequest:
    unknown = sorted(str(k)[:40] for k in event if k not in CONTINUATION_EVENT_KEYS)
    if unknown:
        raise ConfigError(f"continuation event has unknown field(s) {unknown}; "
                          f"expected {sorted(CONTINUATION_EVENT_KEYS)}")
    key = event[EVENT_CHECKPOINT_KEY]
    folder = f"{prefix}{CHECKPOINT_DIR}"
    if (not isinstance(key, str) or not key.startswith(folder) or not key.endswith(".json")
            or "/" in key[len(folder):] or len(key) > MAX_KEY_LENGTH):
        raise ConfigError(f"event field {EVENT_CHECKPOINT_KEY} must be a .json key directly under {folder!r}")
    generation = event.get(EVENT_GENERATION)
    if not isinstance(generation, int) or isinstance(generation, bool) or generation < 1:
        raise ConfigError(f"event field {EVENT_GENERATION} must be a positive integer")
    return ContinuationRequest(key, generation)


def load_settings(environ: Mapping[str, str]) -> Settings:
    bucket = environ.get(ENV_BUCKET)
    if not bucket:
        raise ConfigError(f"environment variable {ENV_BUCKET} is required (the snapshot bucket's name)")
    signing = environ.get(ENV_SIGNING_KEY)
    if not signing:
        raise ConfigError(f"environment variable {ENV_SIGNING_KEY} is required (the KMS key that signs manifests "
                          "and checkpoints: the stack's signing key)")
    budget_raw = environ.get(ENV_REQUEST_BUDGET) or DEFAULT_REQUEST_BUDGET
    return Settings(
        bucket=validate_bucket(bucket, ENV_BUCKET),
        signing_key_id=validate_kms_key(signing, ENV_SIGNING_KEY) or "",
        kms_key_id=validate_kms_key(environ.get(ENV_KMS_KEY), ENV_KMS_KEY),
        prefix=validate_prefix(environ.get(ENV_PREFIX, ""), ENV_PREFIX),
        exclude_attributes=validate_attributes(environ.get(ENV_EXCLUDE_ATTRIBUTES), ENV_EXCLUDE_ATTRIBUTES),
        request_budget=validate_budget(budget_raw, ENV_REQUEST_BUDGET),
        capture_user_mfa=_switch(environ.get(ENV_CAPTURE_USER_MFA), ENV_CAPTURE_USER_MFA),
    )


def _switch(value: str | None, name: str) -> bool:
    """``1`` on, ``0`` or unset off; anything else is a mistake, named."""
    if value in (None, "", "0"):
        return False
    if value == "1":
        return True
    raise ConfigError(f"environment variable {name} must be 1 or 0, got {value[:40]!r}")
