"""The main program's resources as the CI roles and the permissions boundary name them: IAM resource
patterns and conditions, built from the program's own names (``infra/names.py``) and the stacks.

- Names the program sets: ``cognito-backup-<stack>`` for each stack of the account, exactly (the
  function, its SDK layer ``cognito-backup-<stack>-sdk``, its log group, the alarms, the dashboard,
  the key aliases).
- Names Pulumi makes: ``<logical name>-`` and seven characters, exactly (``?`` is one character), so
  that ``snapshots-bucket-archive`` or ``backup-failures-legacy`` of another project are not matched.
- Roles: the program's path (``role/cognito-backup/...``), which no reader or CI role shares.
- KMS keys: IAM cannot scope a key by name, so by tag: the program tags each key with its stack
  (``cognito-backup:stack``), and the conditions here admit only keys (or new keys) tagged with one of
  the account's stacks.
- User pools: the ids listed in the stacks' ``Pulumi.<stack>.yaml``.

Pure: plain strings in, lists and dicts out (tests/infra/test_bootstrap.py evaluates them).
"""

from __future__ import annotations

from backup_lambda.validation import pool_region
from bootstrap.account_settings import Settings
from infra import names
from infra.names import KEY_TAG, PROGRAM_ROLE_PATH, StackNames, autoname_pattern


def _buckets(settings: Settings, *logical: str) -> list[str]:
    return [f"arn:{settings.partition}:s3:::{autoname_pattern(name)}" for name in logical]


def _stacks(settings: Settings) -> list[StackNames]:
    return [StackNames.of(stack) for stack in settings.stacks]


def snapshot_buckets(settings: Settings) -> list[str]:
    """The primary snapshot bucket of every stack (its policy admits the snapshot readers only)."""
    return _buckets(settings, names.snapshot_bucket(names.SNAPSHOT_STORAGE))


def replica_buckets(settings: Settings) -> list[str]:
    return _buckets(settings, names.snapshot_bucket(names.replica(names.SNAPSHOT_STORAGE)))


def all_buckets(settings: Settings) -> list[str]:
    return _buckets(settings, *names.AUTONAMED["buckets"])


def objects(buckets: list[str]) -> list[str]:
    return [f"{bucket}/*" for bucket in buckets]


def roles(settings: Settings) -> list[str]:
    """Every role under the program's path (and only there)."""
    return [settings.iam_arn(f"role{PROGRAM_ROLE_PATH}*")]


def role(settings: Settings, logical: str) -> list[str]:
    """One of the program's roles (``names.role(...)``, ``names.replication_role(...)``)."""
    return [settings.iam_arn(f"role{PROGRAM_ROLE_PATH}{autoname_pattern(logical)}")]


def boundary(settings: Settings) -> str:
    return names.permissions_boundary_arn(settings.partition, settings.account_id)


def functions(settings: Settings) -> list[str]:
    """Each stack's function, and its qualified ARNs (versions)."""
    arns = [settings.arn("lambda", f"function:{stack.function}") for stack in _stacks(settings)]
    return arns + [f"{arn}:*" for arn in arns]


def sdk_layers(settings: Settings) -> list[str]:
    """Each stack's SDK layer, unversioned: what ``lambda:PublishLayerVersion`` is authorised on."""
    return [settings.arn("lambda", f"layer:{stack.sdk_layer}") for stack in _stacks(settings)]


def sdk_layer_versions(settings: Settings) -> list[str]:
    """Every version of each stack's SDK layer (``<layer ARN>:<n>``; a layer's name holds no ``:``)."""
    return [f"{arn}:*" for arn in sdk_layers(settings)]


def any_program_layer(settings: Settings) -> str:
    """Every layer named like the program's, and its versions: pair with a deny outside ``sdk_layers``
    and ``sdk_layer_versions``."""
    return settings.arn("lambda", f"layer:{names.NAMESPACE}-*")


def log_groups(settings: Settings) -> list[str]:
    arns = [settings.arn("logs", f"log-group:{stack.log_group}") for stack in _stacks(settings)]
    return arns + [f"{arn}:*" for arn in arns]


def import_log_groups(settings: Settings) -> list[str]:
    """Where Cognito's user-import jobs log (``infra/policies/import_role.py``)."""
    return [settings.arn("logs", "log-group:/aws/cognito/*")]


def queues(settings: Settings) -> list[str]:
    return [settings.arn("sqs", autoname_pattern(name)) for name in names.AUTONAMED["queues"]]


def failure_queues(settings: Settings) -> list[str]:
    return [settings.arn("sqs", autoname_pattern(names.failure_queue(names.BACKUP_FUNCTION)))]


def rules(settings: Settings) -> list[str]:
    return [settings.arn("events", f"rule/{autoname_pattern(name)}") for name in names.AUTONAMED["rules"]]


def alarms(settings: Settings) -> list[str]:
    return [settings.arn("cloudwatch", f"alarm:{stack.alarm('*')}") for stack in _stacks(settings)]


def dashboards(settings: Settings) -> list[str]:
    return [f"arn:{settings.partition}:cloudwatch::{settings.account_id}:dashboard/{stack.dashboard}"
            for stack in _stacks(settings)]


def topics(settings: Settings) -> list[str]:
    return [settings.arn("sns", autoname_pattern(name)) for name in names.AUTONAMED["topics"]]


def key_aliases(settings: Settings) -> list[str]:
    return [settings.arn("kms", alias) for stack in _stacks(settings)
            for alias in (stack.key_alias, stack.replica_key_alias)]


def keys(settings: Settings) -> list[str]:
    """Every key of the account: pair with ``tagged_keys`` (IAM cannot scope a key by name)."""
    return [settings.arn("kms", "key/*")]


def tagged_keys(settings: Settings) -> dict:
    """The condition that admits only the program's keys: tagged with one of the account's stacks."""
    return {"StringEquals": {f"aws:ResourceTag/{KEY_TAG}": sorted(settings.stacks)}}


def new_tagged_keys(settings: Settings) -> dict:
    """The condition on creating (and tagging) a key: the request tags it as one of the stacks'."""
    return {"StringEquals": {f"aws:RequestTag/{KEY_TAG}": sorted(settings.stacks)}}


def pools(settings: Settings) -> list[str]:
    """The user pools the stacks' files list (``Settings.stack_pool_ids``), in their own regions."""
    return sorted(f"arn:{settings.partition}:cognito-idp:{pool_region(pool_id)}:{settings.account_id}:"
                  f"userpool/{pool_id}" for pool_id in settings.stack_pool_ids)


def this_account(settings: Settings) -> dict:
    """S3 requests on buckets this account owns only (bucket names are global: another account's bucket
    may bear one of the program's names)."""
    return {"StringEquals": {"s3:ResourceAccount": settings.account_id}}
