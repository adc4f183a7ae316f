"""The stack's configuration, read once and validated up front into one frozen dataclass.

``parse_config`` is a pure function (raw values by full key -> ``BackupConfig``) so that tests reach
every rule without Pulumi; ``load_config`` reads the raw values from the running Pulumi stack.
Every problem is reported, each on its own line and each naming its key, e.g.
``cognito-backup:userPools[1].id: ...``; unknown keys of the project's namespace are refused too
(a typo would otherwise silently fall back to a default). The values the function reads from its
environment (prefix, request budget, excluded attributes) go through the function's own validators
(``backup_lambda.settings``), so the program never deploys a value the function would refuse.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from backup_lambda.contract import snapshot_event
from backup_lambda.errors import ConfigError as LambdaConfigError
from backup_lambda.quotas import DEFAULT_REQUEST_BUDGET
from backup_lambda.validation import (
    MAX_USER_POOL_ID,
    POOL_NAME_RE,
    REGION_RE,
    USER_POOL_ID_RE,
    validate_attributes,
    validate_budget,
    validate_prefix,
)
from infra.names import (
    NAMESPACE,
    POWERTOOLS_LAYER_ACCOUNT,
    StackNames,
    powertools_layer_arn,
    resource_prefix,
    stack_name_problem,
)

REGION_KEY = "aws:region"

DEFAULT_SCHEDULE = "cron(0 1 * * ? *)"
DEFAULT_DAILY_DAYS = 30
DEFAULT_WEEKLY_DAYS = 183  # about six months, as the original design suggests
DEFAULT_MONTHLY_DAYS = 365
DEFAULT_NONCURRENT_DAYS = 7
DEFAULT_POWERTOOLS_LAYER_VERSION = 25
DEFAULT_LAMBDA_TIMEOUT = 900
DEFAULT_LAMBDA_MEMORY = 512
DEFAULT_LOG_RETENTION_DAYS = 90
DEFAULT_ACCESS_LOG_RETENTION_DAYS = 365

MAX_DAYS = 36500
# The values CloudWatch Logs accepts for a log group's retention.
LOG_RETENTION_VALUES = (
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
)
OBJECT_LOCK_MODES = ("off", "governance", "compliance")

# Every key of the project's namespace, with its default (None: required or optional without default).
KEYS: dict[str, Any] = {
    "userPools": None,
    "snapshotReaders": None,
    "schedule": DEFAULT_SCHEDULE,
    "requestBudget": DEFAULT_REQUEST_BUDGET,
    "excludeAttributes": [],
    "snapshotPrefix": "",
    "alarmEmail": None,
    "retentionDailyDays": DEFAULT_DAILY_DAYS,
    "retentionWeeklyDays": DEFAULT_WEEKLY_DAYS,
    "retentionMonthlyDays": DEFAULT_MONTHLY_DAYS,
    "noncurrentVersionDays": DEFAULT_NONCURRENT_DAYS,
    "objectLock": "off",
    "replicaRegion": None,
    "powertoolsLayerVersion": DEFAULT_POWERTOOLS_LAYER_VERSION,
    "lambdaTimeout": DEFAULT_LAMBDA_TIMEOUT,
    "lambdaMemory": DEFAULT_LAMBDA_MEMORY,
    "logRetentionDays": DEFAULT_LOG_RETENTION_DAYS,
    "accessLogRetentionDays": DEFAULT_ACCESS_LOG_RETENTION_DAYS,
    "protect": True,
}

CRON_RE = re.compile(r"^cron\((?P<fields>\S+(?: \S+){5})\)$")
RATE_RE = re.compile(r"^rate\((?P<value>[1-9]\d*) (?P<unit>minutes?|hours?|days?)\)$")
EMAIL_RE = re.compile(r"^[^@\s,]+@[^@\s,]+\.[^@\s,]+$")
PRINCIPAL_RE = re.compile(
    r"^arn:aws[a-z-]*:iam::(?P<account>\d{12}):(?P<kind>role|user)/(?P<path>[\w+=,.@/-]+)$"
)


class ConfigError(ValueError):
    """The stack's configuration is not valid. ``problems`` holds one line per problem, key first."""

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        super().__init__(
            "invalid stack configuration (pulumi config set KEY VALUE to fix):\n"
            + "\n".join(f"  {p}" for p in self.problems)
        )


@dataclass(frozen=True)
class Pool:
    id: str
    name: str

    def event(self) -> dict[str, str]:
        """The snapshot Lambda's event for this pool (the schedule target's constant input)."""
        return snapshot_event(self.id, self.name)


@dataclass(frozen=True)
class Retention:
    daily_days: int
    weekly_days: int
    monthly_days: int
    noncurrent_days: int

    def days_by_class(self) -> dict[str, int]:
        """Days to keep each retention class (the ``retention`` tag the snapshot writer sets)."""
        return {"daily": self.daily_days, "weekly": self.weekly_days, "monthly": self.monthly_days}


@dataclass(frozen=True)
class ObjectLock:
    mode: str  # "off" | "governance" | "compliance"
    days: int | None = None

    @property
    def enabled(self) -> bool:
        return self.mode != "off"


@dataclass(frozen=True)
class BackupConfig:
    stack: str
    region: str
    pools: tuple[Pool, ...]
    snapshot_readers: tuple[str, ...]
    schedule: str = DEFAULT_SCHEDULE
    request_budget: float = DEFAULT_REQUEST_BUDGET  # UserList calls per second
    exclude_attributes: tuple[str, ...] = ()
    snapshot_prefix: str = ""
    alarm_email: str | None = None
    retention: Retention = Retention(
        DEFAULT_DAILY_DAYS, DEFAULT_WEEKLY_DAYS, DEFAULT_MONTHLY_DAYS, DEFAULT_NONCURRENT_DAYS
    )
    object_lock: ObjectLock = ObjectLock("off")
    replica_region: str | None = None
    powertools_layer_version: int = DEFAULT_POWERTOOLS_LAYER_VERSION
    lambda_timeout: int = DEFAULT_LAMBDA_TIMEOUT
    lambda_memory: int = DEFAULT_LAMBDA_MEMORY
    log_retention_days: int = DEFAULT_LOG_RETENTION_DAYS
    access_log_retention_days: int = DEFAULT_ACCESS_LOG_RETENTION_DAYS
    protect: bool = True

    @property
    def resource_prefix(self) -> str:
        """Prefix of the names people see (function, alarms, dashboard): ``cognito-backup-<stack>``."""
        return resource_prefix(self.stack)

    @property
    def names(self) -> StackNames:
        """The physical names the program sets: function, log group, alarms, dashboard, key aliases."""
        return StackNames(self.resource_prefix)

    @property
    def powertools_layer_arn(self) -> str:
        return powertools_layer_arn(self.region, self.powertools_layer_version)


class _Reader:
    """Reads raw config values (as Pulumi stores them: strings, JSON for lists and objects) and
    records every problem instead of stopping at the first one."""

    def __init__(self, raw: Mapping[str, Any]):
        self.raw = raw
        self.problems: list[str] = []

    def problem(self, key: str, message: str) -> None:
        self.problems.append(f"{key}: {message}")

    def get(self, name: str) -> Any:
        value = self.raw.get(f"{NAMESPACE}:{name}")
        if value == "" and name != "snapshotPrefix":  # `pulumi config set KEY ""` means "not set"
            return None
        return value

    def structured(self, name: str, *, scalar_ok: bool = False) -> Any:
        """A list or object value: Pulumi hands these over as JSON text."""
        value = self.get(name)
        if isinstance(value, str):
            try:
                return json.loads(value)
            except json.JSONDecodeError:
                if scalar_ok:
                    return value
                self.problem(
                    f"{NAMESPACE}:{name}",
                    f"is not valid JSON: {value!r} (set lists and objects with `pulumi config set --path` "
                    "or in the stack file)",
                )
                return None
        return value

    def integer(self, name: str, default: int, low: int, high: int) -> int:
        key = f"{NAMESPACE}:{name}"
        value = self.get(name)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int | str):
            self.problem(key, f"must be a whole number, not {value!r}")
            return default
        if isinstance(value, str):
            if not re.fullmatch(r"[+-]?\d+", value.strip()):
                self.problem(key, f"must be a whole number, not {value!r}")
                return default
            value = int(value)
        if not low <= value <= high:
            self.problem(key, f"must be between {low} and {high}, not {value}")
            return default
        return value

    def boolean(self, name: str, default: bool) -> bool:
        key = f"{NAMESPACE}:{name}"
        value = self.get(name)
        if value is None:
            return default
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in ("true", "false"):
            return value.strip().lower() == "true"
        self.problem(key, f"must be true or false, not {value!r}")
        return default

    def lambda_value(self, key: str, check: Callable[[Any, str], Any], value: Any) -> Any:
        """Run one of the function's own validators; its complaint becomes this key's problem."""
        try:
            return check(value, "value")
        except LambdaConfigError as error:
            self.problem(key, str(error))
            return None

    def string(self, name: str) -> str | None:
        value = self.get(name)
        if value is not None and not isinstance(value, str):
            self.problem(f"{NAMESPACE}:{name}", f"must be a string, not {value!r}")
            return None
        return value


def _region_problem(value: Any) -> str | None:
    if not isinstance(value, str) or not REGION_RE.fullmatch(value):
        return f"{value!r} is not an AWS region name (e.g. eu-west-1)"
    if value.startswith(("cn-", "us-gov-", "us-iso")):
        return (
            f"{value} is not a commercial region: the Powertools layer "
            f"(account {POWERTOOLS_LAYER_ACCOUNT}) is published in commercial regions only"
        )
    return None


def _read_pools(r: _Reader, region: str | None) -> tuple[Pool, ...]:
    key = f"{NAMESPACE}:userPools"
    value = r.structured("userPools")
    if value is None:
        if r.get("userPools") is None:
            r.problem(key, 'required: a list of {"id", "name"} (one entry per user pool to back up)')
        return ()
    if not isinstance(value, list) or not value:
        r.problem(key, f'must be a non-empty list of {{"id", "name"}} objects, not {value!r}')
        return ()
    pools: list[Pool] = []
    seen_ids: dict[str, int] = {}
    seen_names: dict[str, int] = {}
    for i, entry in enumerate(value):
        at = f"{key}[{i}]"
        if not isinstance(entry, dict):
            r.problem(at, f'must be an object {{"id": ..., "name": ...}}, not {entry!r}')
            continue
        unknown = sorted(set(entry) - {"id", "name"})
        if unknown:
            r.problem(at, f"unknown field(s) {', '.join(unknown)}: only id and name are read")
        ok = True
        pool_id, name = entry.get("id"), entry.get("name")
        match = USER_POOL_ID_RE.fullmatch(pool_id) if isinstance(pool_id, str) else None
        if pool_id is None:
            r.problem(f"{at}.id", "required (the user pool id, e.g. eu-west-1_AbCd12345)")
            ok = False
        elif not match or len(pool_id) > MAX_USER_POOL_ID:
            r.problem(f"{at}.id", f"{pool_id!r} does not look like <region>_<alnum> (e.g. eu-west-1_AbCd12345)")
            ok = False
        elif region and match["region"] != region:
            r.problem(
                f"{at}.id",
                f"{pool_id} is in {match['region']}, but the stack deploys to {region} ({REGION_KEY}); "
                "back up each region's pools from a stack in that region",
            )
            ok = False
        elif pool_id in seen_ids:
            r.problem(f"{at}.id", f"{pool_id} is already listed at userPools[{seen_ids[pool_id]}]")
            ok = False
        if name is None:
            r.problem(f"{at}.name", "required (the name used in snapshot keys, metrics and alarms)")
            ok = False
        elif not isinstance(name, str) or not POOL_NAME_RE.fullmatch(name):
            r.problem(
                f"{at}.name",
                f"{name!r} must be 1-128 ASCII letters, digits or _.+=,@- "
                "(it is part of snapshot keys and a CloudWatch dimension)",
            )
            ok = False
        elif name in seen_names:
            r.problem(f"{at}.name", f"{name} is already used by userPools[{seen_names[name]}]")
            ok = False
        if ok:
            seen_ids[pool_id] = i
            seen_names[name] = i
            pools.append(Pool(pool_id, name))
    return tuple(pools)


def _read_schedule(r: _Reader) -> str:
    key = f"{NAMESPACE}:schedule"
    value = r.string("schedule")
    if value is None:
        return DEFAULT_SCHEDULE
    value = value.strip()
    cron, rate = CRON_RE.fullmatch(value), RATE_RE.fullmatch(value)
    if cron:
        fields = cron["fields"].split(" ")
        day_of_month, day_of_week = fields[2], fields[4]
        if (day_of_month == "?") == (day_of_week == "?"):
            r.problem(key, f"{value!r}: exactly one of day-of-month and day-of-week must be '?'")
        return value
    if rate:
        number, unit = int(rate["value"]), rate["unit"]
        if (number == 1) != (not unit.endswith("s")):
            r.problem(key, f"{value!r}: write rate(1 {unit.rstrip('s')}) or rate(N {unit.rstrip('s')}s)")
        minutes = number * {"m": 1, "h": 60, "d": 1440}[unit[0]]
        if minutes > 1440:
            r.problem(key, f"{value!r} is less than daily; the missing-snapshot alarm expects one a day")
        return value
    r.problem(key, f"{value!r} is not an EventBridge schedule: cron(min hour dom month dow year) or rate(...)")
    return DEFAULT_SCHEDULE


def _read_exclude_attributes(r: _Reader) -> tuple[str, ...]:
    key = f"{NAMESPACE}:excludeAttributes"
    value = r.structured("excludeAttributes", scalar_ok=True)
    if value is None:
        return ()
    if isinstance(value, str):
        value = [part.strip() for part in value.split(",") if part.strip()]
    if not isinstance(value, list):
        r.problem(key, f"must be a list of attribute names, not {value!r}")
        return ()
    names: list[str] = []
    for i, name in enumerate(value):
        if not isinstance(name, str) or "," in name or not name.strip() or name != name.strip():
            r.problem(f"{key}[{i}]", f"{name!r} is not a user attribute name (e.g. custom:tax_id)")
        elif name in names:
            r.problem(f"{key}[{i}]", f"{name} is listed twice")
        elif r.lambda_value(f"{key}[{i}]", validate_attributes, [name]) is not None:
            names.append(name)
    return tuple(names)


def _read_request_budget(r: _Reader) -> float:
    value = r.get("requestBudget")
    if value is None:
        return DEFAULT_REQUEST_BUDGET
    if isinstance(value, bool):
        r.problem(f"{NAMESPACE}:requestBudget", f"must be a number of calls per second, not {value!r}")
        return DEFAULT_REQUEST_BUDGET
    budget = r.lambda_value(f"{NAMESPACE}:requestBudget", validate_budget, value)
    return DEFAULT_REQUEST_BUDGET if budget is None else budget


def _read_readers(r: _Reader) -> tuple[str, ...]:
    key = f"{NAMESPACE}:snapshotReaders"
    value = r.structured("snapshotReaders", scalar_ok=True)
    if value is None:
        if r.get("snapshotReaders") is None:
            r.problem(
                key,
                "required: the IAM role or user ARNs allowed to read snapshots (restore, verify); "
                "everyone else is denied",
            )
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value:
        r.problem(key, f"must be a non-empty list of IAM role or user ARNs, not {value!r}")
        return ()
    readers: list[str] = []
    for i, arn in enumerate(value):
        at = f"{key}[{i}]"
        if isinstance(arn, str) and "*" in arn:
            r.problem(at, f"{arn!r}: wildcards are not allowed; list each principal's ARN")
        elif isinstance(arn, str) and arn.endswith(":root"):
            r.problem(at, f"{arn!r}: name roles or users, not an account root (it would admit every principal)")
        elif not isinstance(arn, str) or not PRINCIPAL_RE.fullmatch(arn):
            r.problem(at, f"{arn!r} is not an IAM role or user ARN (arn:aws:iam::123456789012:role/name)")
        elif arn in readers:
            r.problem(at, f"{arn} is listed twice")
        else:
            readers.append(arn)
    return tuple(readers)


def _read_object_lock(r: _Reader, daily_days: int) -> ObjectLock:
    key = f"{NAMESPACE}:objectLock"
    value = r.structured("objectLock", scalar_ok=True)
    if value is None:
        return ObjectLock("off")
    if isinstance(value, str):
        value = {"mode": value}
    if not isinstance(value, dict):
        r.problem(key, f'must be "off" or {{"mode": "governance"|"compliance", "days": N}}, not {value!r}')
        return ObjectLock("off")
    unknown = sorted(set(value) - {"mode", "days"})
    if unknown:
        r.problem(key, f"unknown field(s) {', '.join(unknown)}: only mode and days are read")
    mode = value.get("mode")
    if mode not in OBJECT_LOCK_MODES:
        r.problem(f"{key}.mode", f"must be one of {', '.join(OBJECT_LOCK_MODES)}, not {mode!r}")
        return ObjectLock("off")
    days = value.get("days")
    if mode == "off":
        if days is not None:
            r.problem(f"{key}.days", "only applies when mode is governance or compliance")
        return ObjectLock("off")
    if isinstance(days, str) and days.isdigit():
        days = int(days)
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_DAYS:
        r.problem(f"{key}.days", f"required with mode {mode}: a whole number of days (1-{MAX_DAYS}), not {days!r}")
        return ObjectLock("off")
    if days > daily_days:
        r.problem(
            f"{key}.days",
            f"{days} is longer than {NAMESPACE}:retentionDailyDays ({daily_days}): daily snapshots would "
            "stay locked past the day they are meant to expire",
        )
    return ObjectLock(mode, days)


def _read_retention(r: _Reader) -> Retention:
    daily = r.integer("retentionDailyDays", DEFAULT_DAILY_DAYS, 1, MAX_DAYS)
    weekly = r.integer("retentionWeeklyDays", DEFAULT_WEEKLY_DAYS, 1, MAX_DAYS)
    monthly = r.integer("retentionMonthlyDays", DEFAULT_MONTHLY_DAYS, 1, MAX_DAYS)
    noncurrent = r.integer("noncurrentVersionDays", DEFAULT_NONCURRENT_DAYS, 1, MAX_DAYS)
    if weekly < daily:
        r.problem(
            f"{NAMESPACE}:retentionWeeklyDays",
            f"{weekly} is shorter than retentionDailyDays ({daily}): weekly snapshots are kept longer",
        )
    if monthly < weekly:
        r.problem(
            f"{NAMESPACE}:retentionMonthlyDays",
            f"{monthly} is shorter than retentionWeeklyDays ({weekly}): monthly snapshots are kept longest",
        )
    return Retention(daily, weekly, monthly, noncurrent)


def _read_prefix(r: _Reader) -> str:
    """The function's own rule: path segments, normalised to end with '/' ("" for none)."""
    value = r.get("snapshotPrefix")
    if value is None or value == "":
        return ""
    prefix = r.lambda_value(f"{NAMESPACE}:snapshotPrefix", validate_prefix, value)
    return prefix or ""


def _read_optional(r: _Reader, name: str, check: Callable[[str], str | None]) -> str | None:
    value = r.string(name)
    if value is None:
        return None
    problem = check(value)
    if problem:
        r.problem(f"{NAMESPACE}:{name}", problem)
        return None
    return value


def parse_config(raw: Mapping[str, Any], *, stack: str) -> BackupConfig:
    """Validate the raw config of one stack (full keys, e.g. ``cognito-backup:userPools``).

    Raises ``ConfigError`` listing every problem, each line starting with the key it concerns.
    """
    r = _Reader(raw)
    if problem := stack_name_problem(stack):
        r.problem("stack name", problem)

    for full_key in sorted(raw):
        if full_key.startswith(f"{NAMESPACE}:") and full_key.split(":", 1)[1] not in KEYS:
            name = full_key.split(":", 1)[1]
            close = difflib.get_close_matches(name, KEYS, n=1)
            hint = f" (did you mean {NAMESPACE}:{close[0]}?)" if close else ""
            r.problem(full_key, f"unknown key{hint}")

    region = raw.get(REGION_KEY)
    if not region:
        r.problem(REGION_KEY, "required: the region of the pools and the backup (e.g. eu-west-1)")
        region = None
    elif problem := _region_problem(region):
        r.problem(REGION_KEY, problem)
        region = None

    pools = _read_pools(r, region)
    readers = _read_readers(r)
    schedule = _read_schedule(r)
    request_budget = _read_request_budget(r)
    exclude = _read_exclude_attributes(r)
    prefix = _read_prefix(r)
    email = _read_optional(
        r, "alarmEmail", lambda v: None if EMAIL_RE.fullmatch(v) else f"{v!r} is not an email address"
    )
    retention = _read_retention(r)
    object_lock = _read_object_lock(r, retention.daily_days)
    replica = _read_optional(r, "replicaRegion", _region_problem)
    if replica and replica == region:
        r.problem(f"{NAMESPACE}:replicaRegion", f"{replica} is the stack's own region ({REGION_KEY})")
        replica = None
    layer_version = r.integer("powertoolsLayerVersion", DEFAULT_POWERTOOLS_LAYER_VERSION, 1, 10_000)
    timeout = r.integer("lambdaTimeout", DEFAULT_LAMBDA_TIMEOUT, 60, 900)
    memory = r.integer("lambdaMemory", DEFAULT_LAMBDA_MEMORY, 128, 10240)
    log_retention = r.integer("logRetentionDays", DEFAULT_LOG_RETENTION_DAYS, 1, 3653)
    if log_retention not in LOG_RETENTION_VALUES:
        r.problem(
            f"{NAMESPACE}:logRetentionDays",
            f"{log_retention} is not a value CloudWatch Logs accepts: "
            + ", ".join(str(v) for v in LOG_RETENTION_VALUES),
        )
    access_logs = r.integer("accessLogRetentionDays", DEFAULT_ACCESS_LOG_RETENTION_DAYS, 1, MAX_DAYS)
    protect = r.boolean("protect", True)

    if r.problems:
        raise ConfigError(r.problems)
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
        powertools_layer_version=layer_version,
        lambda_timeout=timeout,
        lambda_memory=memory,
        log_retention_days=log_retention,
        access_log_retention_days=access_logs,
        protect=protect,
    )


def load_config() -> BackupConfig:
    """The running stack's configuration (``pulumi config``), validated; raises ``ConfigError``."""
    import pulumi
    from pulumi.runtime import config as runtime_config

    known = {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}
    keys = {k for k in known if k.startswith(f"{NAMESPACE}:")} | {f"{NAMESPACE}:{k}" for k in KEYS}
    raw: dict[str, Any] = {key: runtime_config.get_config(key) for key in keys}
    raw[REGION_KEY] = pulumi.Config("aws").get("region")
    return parse_config({k: v for k, v in raw.items() if v is not None}, stack=pulumi.get_stack())
