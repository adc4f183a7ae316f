"""The names of the program's resources that matter outside the component that declares them.

- Logical names. ``__main__.py`` names the components (``SNAPSHOT_STORAGE``, ...) and each component
  names its children after itself, ``<component>-<part>``. A resource's URN is its type token, its
  logical name and its parents' types, so these never change: the snapshot buckets and keys are
  protected (tests/infra/test_urns.py pins every URN). Where the program sets no physical name,
  Pulumi makes one of the logical name, ``<logical name>-<7 random hex>``; ``AUTONAMED`` lists those
  resources by kind.
- Physical names the program sets itself (``StackNames``), all starting with the stack's prefix
  ``cognito-backup-<stack>``: the function, its SDK layer, its log group, the alarms, the dashboard,
  the key aliases.
- What marks the program's IAM roles and KMS keys as its own, for the CI roles' conditions: the IAM
  path of its roles (``PROGRAM_ROLE_PATH``), the permissions boundary they carry
  (``PERMISSIONS_BOUNDARY``, created by the bootstrap) and the tag of its keys (``KEY_TAG``).

The bootstrap scopes the CI roles with this module (``bootstrap/deploy_role.py`` and the other role
modules), so the program and the roles cannot drift apart. Pure: no Pulumi.
"""

from __future__ import annotations

from dataclasses import dataclass

NAMESPACE = "cognito-backup"  # the stack keys' namespace, and the first word of every name the program sets
LAMBDA_NAME_MAX = 64
# The function is named "cognito-backup-<stack>": the stack name must leave it a valid Lambda name.
STACK_NAME_MAX = LAMBDA_NAME_MAX - len(f"{NAMESPACE}-")
STACK_NAME_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")

# Every role of the program lives under this IAM path, which no other role's ARN matches: not a snapshot
# reader such as role/cognito-backup-restore (path "/"), not the CI roles (/github-actions/). The deploy
# role may create and change roles under this path only, and only with the permissions boundary below.
PROGRAM_ROLE_PATH = f"/{NAMESPACE}/"
# The permissions boundary every role of the program carries: a managed policy under the same path that
# the bootstrap creates (bootstrap/boundary.py) and the deploy role can neither change nor remove. It
# caps what any role the deploy role creates can ever do.
PERMISSIONS_BOUNDARY = f"{NAMESPACE}-program-boundary"
# The tag the program puts on its KMS keys, with the stack's name as its value. The CI roles administer
# and use only keys that carry it (``aws:RequestTag`` when a key is created, ``aws:ResourceTag`` after).
KEY_TAG = f"{NAMESPACE}:stack"


def stack_name_problem(stack: object) -> str | None:
    """Why ``stack`` cannot name a stack of the program (None when it can)."""
    if not isinstance(stack, str) or not 1 <= len(stack) <= STACK_NAME_MAX or not set(stack) <= STACK_NAME_CHARS:
        return f"{stack!r} must be 1-{STACK_NAME_MAX} letters, digits, '-' or '_' (it names the function)"
    return None


def resource_prefix(stack: str) -> str:
    """The first part of every physical name the program sets: ``cognito-backup-<stack>``."""
    return f"{NAMESPACE}-{stack}"


def permissions_boundary_arn(partition: str, account_id: str) -> str:
    return f"arn:{partition}:iam::{account_id}:policy{PROGRAM_ROLE_PATH}{PERMISSIONS_BOUNDARY}"


def key_tags(stack: str) -> dict[str, str]:
    """The tags of the program's KMS keys."""
    return {KEY_TAG: stack}


# --- logical names --------------------------------------------------------------------------------

# The components, as __main__.py declares them.
BACKUP_ROLE = "backup"
SNAPSHOT_STORAGE = "snapshots"
BACKUP_FUNCTION = "backup"
ALERTS = "alerts"
DASHBOARD = "overview"
USER_IMPORT_LOGS_ROLE = "user-import-logs"


def role(component: str) -> str:
    """The role of ``BackupRole`` and of ``UserImportLogsRole``."""
    return f"{component}-role"


def snapshot_bucket(storage: str) -> str:
    """``SnapshotStorage``'s snapshot bucket (the replica's: ``snapshot_bucket(replica(storage))``)."""
    return f"{storage}-bucket"


def access_log_bucket(storage: str) -> str:
    return f"{storage}-access-logs"


def replica(storage: str) -> str:
    """The prefix of the replica's key and buckets, named as the primary's are."""
    return f"{storage}-replica"


def replication_role(storage: str) -> str:
    return f"{storage}-replication-role"


def failure_queue(function: str) -> str:
    """``BackupFunction``'s on-failure destination."""
    return f"{function}-failures"


def schedule_dlq(function: str) -> str:
    return f"{function}-schedule-dlq"


def sdk_layer(function: str) -> str:
    """``BackupFunction``'s layer: the SDK it runs on (``infra/sdk_layer.py``)."""
    return f"{function}-sdk"


def schedule_rule(function: str) -> str:
    return f"{function}-schedule"


def alarm_topic(alerts: str) -> str:
    return f"{alerts}-topic"


# The resources Pulumi names (the program sets no name), by the kind the deploy role manages them as.
AUTONAMED: dict[str, tuple[str, ...]] = {
    "buckets": (
        snapshot_bucket(SNAPSHOT_STORAGE),
        access_log_bucket(SNAPSHOT_STORAGE),
        snapshot_bucket(replica(SNAPSHOT_STORAGE)),
        access_log_bucket(replica(SNAPSHOT_STORAGE)),
    ),
    "roles": (role(BACKUP_ROLE), replication_role(SNAPSHOT_STORAGE), role(USER_IMPORT_LOGS_ROLE)),
    "queues": (failure_queue(BACKUP_FUNCTION), schedule_dlq(BACKUP_FUNCTION)),
    "rules": (schedule_rule(BACKUP_FUNCTION),),
    "topics": (alarm_topic(ALERTS),),
}


AUTONAME_SUFFIX_LENGTH = 7  # Pulumi's auto-name: the logical name, "-", 7 random hex digits


def autoname_pattern(logical_name: str) -> str:
    """Every physical name Pulumi may give the resource, and no longer one (an IAM resource pattern:
    ``?`` is one character), so that ``snapshots-bucket-archive-2024`` is not matched."""
    return f"{logical_name}-{'?' * AUTONAME_SUFFIX_LENGTH}"


# --- physical names the program sets --------------------------------------------------------------


@dataclass(frozen=True)
class StackNames:
    """The physical names of one stack's resources that the program sets itself. With ``"*"`` for the
    stack (``ANY_STACK``), the IAM patterns that match them in every stack."""

    prefix: str  # resource_prefix(stack)

    @classmethod
    def of(cls, stack: str) -> StackNames:
        return cls(resource_prefix(stack))

    @property
    def function(self) -> str:
        return self.prefix

    @property
    def sdk_layer(self) -> str:
        """The function's SDK layer: ``<prefix>-sdk`` (a layer's versions are ``<layer ARN>:<n>``)."""
        return f"{self.prefix}-sdk"

    @property
    def log_group(self) -> str:
        return f"/aws/lambda/{self.function}"

    def alarm(self, what: str) -> str:
        """Every alarm: ``<prefix>-<what>`` (``function-errors``, ``missing-snapshot-<pool>``, ...)."""
        return f"{self.prefix}-{what}"

    @property
    def dashboard(self) -> str:
        return self.prefix

    @property
    def key_alias(self) -> str:
        return f"alias/{self.prefix}"

    @property
    def replica_key_alias(self) -> str:
        return f"alias/{self.prefix}-replica"


ANY_STACK = StackNames.of("*")
