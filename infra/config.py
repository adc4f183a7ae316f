"""The stack's configuration, read once and validated up front into one frozen dataclass.

``parse_config`` is a pure function (raw values by full key -> ``BackupConfig``) so that tests reach
every rule without Pulumi; ``load_config`` reads the raw values from the running Pulumi stack.
The keys, their defaults and bounds are the table of ``infra/stack_keys.py``; the rules of the keys
that are more than a bounded number are in ``infra/stack_rules.py``, and the field rules the function
applies too (pool id and name, region, prefix, request budget, excluded attributes) are the function's
own (``backup_lambda.validation``), so the program never deploys a value the function would refuse.
Every problem is reported, each on its own line and each naming its key, e.g.
``cognito-backup:userPools[1].id: ...``; unknown keys of the project's namespace are refused too
(a typo would otherwise silently fall back to a default).
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from infra import stack_rules as rules
from infra.names import NAMESPACE, StackNames, resource_prefix, stack_name_problem
from infra.stack_keys import KEYS, REGION_KEY, RETIRED, default
from infra.stack_values import ObjectLock, Pool, Retention, StackValues


class StackConfigError(ValueError):
    """The stack's configuration is not valid. ``problems`` holds one line per problem, key first."""

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        super().__init__(
            "invalid stack configuration (pulumi config set KEY VALUE to fix):\n"
            + "\n".join(f"  {p}" for p in self.problems)
        )


@dataclass(frozen=True)
class BackupConfig:
    stack: str
    region: str
    pools: tuple[Pool, ...]
    snapshot_readers: tuple[str, ...]
    schedule: str = default("schedule")
    request_budget: float = default("requestBudget")  # UserList calls per second
    exclude_attributes: tuple[str, ...] = default("excludeAttributes")
    snapshot_prefix: str = default("snapshotPrefix")
    alarm_email: str | None = default("alarmEmail")
    retention: Retention = Retention()
    object_lock: ObjectLock = ObjectLock()
    replica_region: str | None = default("replicaRegion")
    lambda_timeout: int = default("lambdaTimeout")
    lambda_memory: int = default("lambdaMemory")
    lambda_ephemeral_storage: int = default("lambdaEphemeralStorage")
    log_retention_days: int = default("logRetentionDays")
    access_log_retention_days: int = default("accessLogRetentionDays")
    protect: bool = default("protect")

    @property
    def resource_prefix(self) -> str:
        """Prefix of the names people see (function, alarms, dashboard): ``cognito-backup-<stack>``."""
        return resource_prefix(self.stack)

    @property
    def names(self) -> StackNames:
        """The physical names the program sets: function, SDK layer, log group, alarms, dashboard, key
        aliases."""
        return StackNames(self.resource_prefix)


def unknown_key_problems(raw: Mapping[str, Any], stack: str) -> list[str]:
    """A problem for each key of the namespace that the table does not declare, with a "did you mean",
    and for each key it declares retired, with why and what to do."""
    problems = []
    live = [name for name, key in KEYS.items() if key.kind != RETIRED]
    for full_key in sorted(raw):
        namespace, _, name = full_key.partition(":")
        if namespace != NAMESPACE:
            continue
        if name not in KEYS:
            close = difflib.get_close_matches(name, live, n=1)
            hint = f" (did you mean {NAMESPACE}:{close[0]}?)" if close else ""
            problems.append(f"{full_key}: unknown key{hint}")
        elif KEYS[name].kind == RETIRED:
            meaning = KEYS[name].meaning.replace("`", "").replace("Pulumi.<stack>.yaml", f"Pulumi.{stack}.yaml")
            problems.append(f"{full_key}: no longer used. {meaning}")
    return problems


def parse_config(raw: Mapping[str, Any], *, stack: str) -> BackupConfig:
    """Validate the raw config of one stack (full keys, e.g. ``cognito-backup:userPools``).

    Raises ``StackConfigError`` listing every problem, each line starting with the key it concerns.
    """
    r = StackValues(raw)
    if problem := stack_name_problem(stack):
        r.problem("stack name", problem)
    r.problems += unknown_key_problems(raw, stack)

    region = rules.read_region(r)
    pools = rules.read_pools(r, region)
    readers = rules.read_readers(r)
    schedule = rules.read_schedule(r)
    request_budget = rules.read_request_budget(r)
    exclude = rules.read_exclude_attributes(r)
    prefix = rules.read_prefix(r)
    email = rules.read_email(r)
    integers = rules.read_integers(r)
    retention = rules.read_retention(r, integers)
    object_lock = rules.read_object_lock(r, retention.daily_days)
    replica = rules.read_replica_region(r, region)
    protect = r.boolean(KEYS["protect"])

    if r.problems:
        raise StackConfigError(r.problems)
    assert region is not None  # a missing region is a problem above
    return BackupConfig(
        stack=stack,
        region=region,
        pools=pools,
        snapshot_readers=readers,
        schedule=schedule,
        request_budget=request_budget,
        exclude_attributes=exclude,
        snapshot_prefix=prefix,
        alarm_email=email,
        retention=retention,
        object_lock=object_lock,
        replica_region=replica,
        lambda_timeout=integers["lambdaTimeout"],
        lambda_memory=integers["lambdaMemory"],
        lambda_ephemeral_storage=integers["lambdaEphemeralStorage"],
        log_retention_days=integers["logRetentionDays"],
        access_log_retention_days=integers["accessLogRetentionDays"],
        protect=protect,
    )


def load_config() -> BackupConfig:
    """The running stack's configuration (``pulumi config``), validated; raises ``StackConfigError``."""
    import pulumi
    from pulumi.runtime import config as runtime_config

    known = {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}
    keys = {k for k in known if k.startswith(f"{NAMESPACE}:")} | {key.full_name for key in KEYS.values()}
    raw: dict[str, Any] = {key: runtime_config.get_config(key) for key in keys}
    raw[REGION_KEY] = pulumi.Config("aws").get("region")
    return parse_config({k: v for k, v in raw.items() if v is not None}, stack=pulumi.get_stack())
