"""The function's contract, defined once: its events, its environment, its metrics and its results.

The engine (``handler``, ``settings``), the operator tooling (``cognito_backup.invoke``), the Pulumi
program (``infra/``: the schedule's events, the function's environment, alarms and dashboard) and the
tests all take these names from here.

Results cross from the engine to the handler's caller as JSON: :class:`SnapshotResult` (a complete
snapshot), :class:`ContinuedResult` (the run handed over to a new run) and :class:`IgnoredResult` (a
duplicate continuation event). ``to_json`` gives what the function returns; ``result_from_json``
reads it back, refusing anything that is not one of these shapes.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

# --- identity in CloudWatch -----------------------------------------------------------------------
SERVICE_NAME = "cognito-backup"
METRICS_NAMESPACE = "CognitoBackup"
POOL_DIMENSION = "pool_name"  # every metric's dimension besides ``service``

# --- metrics (CloudWatch embedded metrics, one set per run) ----------------------------------------
SNAPSHOT_SUCCEEDED = "SnapshotSucceeded"
SNAPSHOT_FAILED = "SnapshotFailed"
USERS_EXPORTED = "UsersExported"
GROUPS_EXPORTED = "GroupsExported"
MEMBERSHIPS_EXPORTED = "MembershipsExported"
SNAPSHOT_BYTES = "SnapshotBytes"
SNAPSHOT_DURATION = "SnapshotDurationSeconds"
THROTTLES = "Throttles"
# name -> CloudWatch unit, in the order the handler publishes them after a complete snapshot
SUCCESS_METRICS = {
    SNAPSHOT_SUCCEEDED: "Count",
    USERS_EXPORTED: "Count",
    GROUPS_EXPORTED: "Count",
    MEMBERSHIPS_EXPORTED: "Count",
    SNAPSHOT_BYTES: "Bytes",
    SNAPSHOT_DURATION: "Seconds",
    THROTTLES: "Count",
}
METRIC_NAMES = (*SUCCESS_METRICS, SNAPSHOT_FAILED)

# --- the environment the function reads (``settings.load_settings``) --------------------------------
ENV_BUCKET = "BACKUP_BUCKET"
ENV_KMS_KEY = "KMS_KEY_ID"
ENV_PREFIX = "SNAPSHOT_PREFIX"
ENV_EXCLUDE_ATTRIBUTES = "EXCLUDE_ATTRIBUTES"
ENV_REQUEST_BUDGET = "REQUEST_BUDGET"
ENV_SIGNING_KEY = "SIGNING_KEY_ID"  # the asymmetric KMS key that signs manifests and checkpoints
ENV_CAPTURE_USER_MFA = "CAPTURE_USER_MFA"  # "1": each user's MFA settings too (stack key captureUserMfa)
SETTINGS_ENVIRONMENT = (ENV_BUCKET, ENV_KMS_KEY, ENV_PREFIX, ENV_EXCLUDE_ATTRIBUTES, ENV_REQUEST_BUDGET,
                        ENV_SIGNING_KEY, ENV_CAPTURE_USER_MFA)
# Read by Powertools, set by the Pulumi program.
ENV_SERVICE = "POWERTOOLS_SERVICE_NAME"
ENV_NAMESPACE = "POWERTOOLS_METRICS_NAMESPACE"

# --- events ---------------------------------------------------------------------------------------
EVENT_POOL_ID = "user_pool_id"
EVENT_POOL_NAME = "pool_name"
SNAPSHOT_EVENT_KEYS = frozenset({EVENT_POOL_ID, EVENT_POOL_NAME})
EVENT_CHECKPOINT_KEY = "checkpoint_key"
EVENT_GENERATION = "generation"
CONTINUATION_EVENT_KEYS = frozenset({EVENT_CHECKPOINT_KEY, EVENT_GENERATION})


def snapshot_event(user_pool_id: str, pool_name: str | None = None) -> dict[str, str]:
    """The event that asks the function for one snapshot (the schedule's targets and ``invoke`` send it)."""
    event = {EVENT_POOL_ID: user_pool_id}
    if pool_name is not None:
        event[EVENT_POOL_NAME] = pool_name
    return event


def continuation_event(checkpoint_key: str, generation: int) -> dict[str, Any]:
    """The event a run sends to its own function to carry on from a checkpoint."""
    return {EVENT_CHECKPOINT_KEY: checkpoint_key, EVENT_GENERATION: generation}


@dataclass(frozen=True)
class SnapshotRequest:
    user_pool_id: str
    pool_name: str | None = None


@dataclass(frozen=True)
class ContinuationRequest:
    """The event a snapshot sends to its own function to carry on from a checkpoint."""

    checkpoint_key: str
    generation: int


# --- results --------------------------------------------------------------------------------------
COUNT_NAMES = ("users", "groups", "memberships", "federated_users", "disabled_users")


@dataclass
class Counts:
    users: int = 0
    groups: int = 0
    memberships: int = 0
    federated_users: int = 0
    disabled_users: int = 0

    def to_json(self) -> dict[str, int]:
        return asdict(self)

    @classmethod
    def from_json(cls, value: Any, what: str = "counts") -> Counts:
        if not isinstance(value, dict) or set(value) != set(COUNT_NAMES):
            raise ValueError(f"{what} must be an object with exactly {', '.join(COUNT_NAMES)}")
        for name in COUNT_NAMES:
            if not _is_count(value[name]):
                raise ValueError(f"{what}.{name} must be a whole number >= 0")
        return cls(**value)


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


@dataclass(frozen=True)
class SnapshotResult:
    """A complete snapshot: the object and its manifest are written."""

    key: str
    manifest_key: str
    bucket: str
    pool_name: str
    user_pool_id: str
    users: int
    groups: int
    memberships: int
    federated_users: int
    disabled_users: int
    bytes: int
    sha256: str
    retention: str
    sections: dict[str, str]
    runs: int
    duration_s: float
    throttles: int
    calls: int
    users_per_s: float | None
    status: str = field(default="ok", init=False)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ContinuedResult:
    """This run handed over: a checkpoint is saved and the next run carries on from it."""

    key: str
    checkpoint_key: str
    generation: int
    bucket: str
    pool_name: str
    user_pool_id: str
    users: int
    groups: int
    memberships: int
    federated_users: int
    disabled_users: int
    status: str = field(default="continued", init=False)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class IgnoredResult:
    """A continuation event for a generation already taken over (Lambda delivered it twice)."""

    reason: str
    status: str = field(default="ignored", init=False)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


Result = SnapshotResult | ContinuedResult | IgnoredResult
_RESULT_TYPES: dict[str, type] = {"ok": SnapshotResult, "continued": ContinuedResult, "ignored": IgnoredResult}


def _fits(annotation: str, value: Any) -> bool:
    """Whether a JSON value fits a field's annotation (the few the result types use)."""
    if annotation == "float | None" and value is None:
        return True
    if isinstance(value, bool):
        return False
    if annotation == "int":
        return isinstance(value, int) and value >= 0
    if annotation in ("float", "float | None"):
        return isinstance(value, int | float) and value >= 0
    if annotation == "str":
        return isinstance(value, str)
    if annotation == "dict[str, str]":
        return isinstance(value, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in value.items())
    raise AssertionError(f"no rule for a field of type {annotation}")  # a new field type: add its rule


def result_from_json(value: Any) -> Result:
    """The function's answer as one of the result types; ``ValueError`` naming what does not fit."""
    if not isinstance(value, dict):
        raise ValueError(f"a result is a JSON object, not {type(value).__name__}")
    status = value.get("status")
    kind = _RESULT_TYPES.get(status) if isinstance(status, str) else None
    if kind is None:
        raise ValueError(f"status {status!r} is not one of {', '.join(_RESULT_TYPES)}")
    args: dict[str, Any] = {}
    for f in fields(kind):
        if not f.init:
            continue
        if f.name not in value:
            raise ValueError(f"a {status!r} result needs {f.name!r}")
        if not _fits(str(f.type), value[f.name]):
            raise ValueError(f"{f.name!r} is not a {f.type}: {value[f.name]!r:.80}")
        args[f.name] = value[f.name]
    return kind(**args)
