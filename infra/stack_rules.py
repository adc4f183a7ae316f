"""The rules of the stack keys that are more than a bounded number or a boolean: regions, pools,
readers, schedule, request budget, excluded attributes, prefix, email, retention classes, Object Lock.

Each ``read_*`` reads its key through ``StackValues`` (``infra/stack_values.py``), records every
problem naming the key (and the index, for lists) and returns the value or the table's default. The
field rules the function applies too come from ``backup_lambda.validation``; what the messages add is
the stack's view.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from backup_lambda.validation import (
    pool_region,
    validate_attributes,
    validate_budget,
    validate_pool_name,
    validate_prefix,
    validate_region,
    validate_user_pool_id,
)
from infra.names import NAMESPACE, PROGRAM_ROLE_PATH
from infra.stack_keys import KEYS, MAX_DAYS, OBJECT_LOCK_MODES, REGION_KEY
from infra.stack_values import ObjectLock, Pool, Retention, StackValues, accepted

CRON_RE = re.compile(r"^cron\((?P<fields>\S+(?: \S+){5})\)$")
RATE_RE = re.compile(r"^rate\((?P<value>[1-9]\d*) (?P<unit>minutes?|hours?|days?)\)$")
EMAIL_RE = re.compile(r"^[^@\s,]+@[^@\s,]+\.[^@\s,]+$")
PRINCIPAL_RE = re.compile(
    r"^arn:aws[a-z-]*:iam::(?P<account>\d{12}):(?P<kind>role|user)/(?P<path>[\w+=,.@/-]+)$"
)


def region_problem(value: Any) -> str | None:
    if not accepted(validate_region, value):
        return f"{value!r} is not an AWS region name (e.g. eu-west-1)"
    if value.startswith(("cn-", "us-gov-", "us-iso")):
        return (
            f"{value} is not a commercial region: the program and its CI roles are built and tested for the "
            "commercial partition (aws) only"
        )
    return None


def read_region(r: StackValues) -> str | None:
    region = r.raw.get(REGION_KEY)
    if not region:
        r.problem(REGION_KEY, "required: the region of the pools and the backup (e.g. eu-west-1)")
        return None
    if problem := region_problem(region):
        r.problem(REGION_KEY, problem)
        return None
    return region


def read_pools(r: StackValues, region: str | None) -> tuple[Pool, ...]:
    key = KEYS["userPools"]
    value = r.structured(key)
    if value is None:
        r.required(key, 'a list of {"id", "name"} (one entry per user pool to back up)')
        return ()
    if not isinstance(value, list) or not value:
        r.problem(key.full_name, f'must be a non-empty list of {{"id", "name"}} objects, not {value!r}')
        return ()
    pools: list[Pool] = []
    seen_ids: dict[str, int] = {}
    seen_names: dict[str, int] = {}
    for i, entry in enumerate(value):
        at = f"{key.full_name}[{i}]"
        if not isinstance(entry, dict):
            r.problem(at, f'must be an object {{"id": ..., "name": ...}}, not {entry!r}')
            continue
        unknown = sorted(set(entry) - {"id", "name"})
        if unknown:
            r.problem(at, f"unknown field(s) {', '.join(unknown)}: only id and name are read")
        ok = True
        pool_id, name = entry.get("id"), entry.get("name")
        if pool_id is None:
            r.problem(f"{at}.id", "required (the user pool id, e.g. eu-west-1_AbCd12345)")
            ok = False
        elif not accepted(validate_user_pool_id, pool_id):
            r.problem(f"{at}.id", f"{pool_id!r} does not look like <region>_<alnum> (e.g. eu-west-1_AbCd12345)")
            ok = False
        elif region and pool_region(pool_id) != region:
            r.problem(
                f"{at}.id",
                f"{pool_id} is in {pool_region(pool_id)}, but the stack deploys to {region} ({REGION_KEY}); "
                "back up each region's pools from a stack in that region",
            )
            ok = False
        elif pool_id in seen_ids:
            r.problem(f"{at}.id", f"{pool_id} is already listed at userPools[{seen_ids[pool_id]}]")
            ok = False
        if name is None:
            r.problem(f"{at}.name", "required (the name used in snapshot keys, metrics and alarms)")
            ok = False
        elif not accepted(validate_pool_name, name):
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


def read_readers(r: StackValues) -> tuple[str, ...]:
    key = KEYS["snapshotReaders"]
    value = r.structured(key, scalar_ok=True)
    if value is None:
        r.required(key, "the IAM role or user ARNs allowed to read snapshots (restore, verify); "
                        "everyone else is denied")
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value:
        r.problem(key.full_name, f"must be a non-empty list of IAM role or user ARNs, not {value!r}")
        return ()
    readers: list[str] = []
    for i, arn in enumerate(value):
        at = f"{key.full_name}[{i}]"
        if isinstance(arn, str) and "*" in arn:
            r.problem(at, f"{arn!r}: wildcards are not allowed; list each principal's ARN")
        elif isinstance(arn, str) and arn.endswith(":root"):
            r.problem(at, f"{arn!r}: name roles or users, not an account root (it would admit every principal)")
        elif not isinstance(arn, str) or not (match := PRINCIPAL_RE.fullmatch(arn)):
            r.problem(at, f"{arn!r} is not an IAM role or user ARN (arn:aws:iam::123456789012:role/name)")
        elif f"/{match['path']}".startswith(PROGRAM_ROLE_PATH):
            r.problem(at, f"{arn}: the path {PROGRAM_ROLE_PATH} is the program's own roles', which the deploy role "
                          "may re-trust and re-scope; a reader must live elsewhere")
        elif arn in readers:
            r.problem(at, f"{arn} is listed twice")
        else:
            readers.append(arn)
    return tuple(readers)


def read_schedule(r: StackValues) -> str:
    key = KEYS["schedule"]
    value = r.string(key)
    if value is None:
        return key.default
    value = value.strip()
    cron, rate = CRON_RE.fullmatch(value), RATE_RE.fullmatch(value)
    if cron:
        fields = cron["fields"].split(" ")
        day_of_month, day_of_week = fields[2], fields[4]
        if (day_of_month == "?") == (day_of_week == "?"):
            r.problem(key.full_name, f"{value!r}: exactly one of day-of-month and day-of-week must be '?'")
        return value
    if rate:
        number, unit = int(rate["value"]), rate["unit"]
        if (number == 1) != (not unit.endswith("s")):
            r.problem(key.full_name, f"{value!r}: write rate(1 {unit.rstrip('s')}) or rate(N {unit.rstrip('s')}s)")
        minutes = number * {"m": 1, "h": 60, "d": 1440}[unit[0]]
        if minutes > 1440:
            r.problem(key.full_name, f"{value!r} is less than daily; the missing-snapshot alarm expects one a day")
        return value
    r.problem(key.full_name,
              f"{value!r} is not an EventBridge schedule: cron(min hour dom month dow year) or rate(...)")
    return key.default


def read_request_budget(r: StackValues) -> float:
    key = KEYS["requestBudget"]
    value = r.get(key)
    if value is None:
        return key.default
    budget = r.field(key.full_name, validate_budget, value)
    return key.default if budget is None else budget


def read_exclude_attributes(r: StackValues) -> tuple[str, ...]:
    key = KEYS["excludeAttributes"]
    value = r.structured(key, scalar_ok=True)
    if value is None:
        return key.default
    if isinstance(value, str):
        value = [part.strip() for part in value.split(",") if part.strip()]
    if not isinstance(value, list):
        r.problem(key.full_name, f"must be a list of attribute names, not {value!r}")
        return key.default
    names: list[str] = []
    for i, name in enumerate(value):
        at = f"{key.full_name}[{i}]"
        if not isinstance(name, str) or "," in name or not name.strip() or name != name.strip():
            r.problem(at, f"{name!r} is not a user attribute name (e.g. custom:tax_id)")
        elif name in names:
            r.problem(at, f"{name} is listed twice")
        elif r.field(at, validate_attributes, [name]) is not None:
            names.append(name)
    return tuple(names)


def read_prefix(r: StackValues) -> str:
    """The function's own rule: path segments, normalised to end with '/' ("" for none)."""
    key = KEYS["snapshotPrefix"]
    value = r.get(key)
    if value is None or value == "":
        return key.default
    return r.field(key.full_name, validate_prefix, value) or key.default


def read_email(r: StackValues) -> str | None:
    key = KEYS["alarmEmail"]
    value = r.string(key)
    if value is not None and not EMAIL_RE.fullmatch(value):
        r.problem(key.full_name, f"{value!r} is not an email address")
        return None
    return value


def read_replica_region(r: StackValues, region: str | None) -> str | None:
    key = KEYS["replicaRegion"]
    value = r.string(key)
    if value is None:
        return None
    if problem := region_problem(value):
        r.problem(key.full_name, problem)
        return None
    if value == region:
        r.problem(key.full_name, f"{value} is the stack's own region ({REGION_KEY})")
        return None
    return value


def read_integers(r: StackValues) -> dict[str, int]:
    """Every integer key, by name: the table's bounds and choices say it all."""
    return {name: r.integer(key) for name, key in KEYS.items() if key.kind == "integer"}


def read_retention(r: StackValues, integers: Mapping[str, int]) -> Retention:
    """The retention classes, each kept at least as long as the one before."""
    daily, weekly, monthly, noncurrent = (
        integers[name]
        for name in ("retentionDailyDays", "retentionWeeklyDays", "retentionMonthlyDays", "noncurrentVersionDays")
    )
    if weekly < daily:
        r.problem(
            KEYS["retentionWeeklyDays"].full_name,
            f"{weekly} is shorter than retentionDailyDays ({daily}): weekly snapshots are kept longer",
        )
    if monthly < weekly:
        r.problem(
            KEYS["retentionMonthlyDays"].full_name,
            f"{monthly} is shorter than retentionWeeklyDays ({weekly}): monthly snapshots are kept longest",
        )
    return Retention(daily, weekly, monthly, noncurrent)


def read_object_lock(r: StackValues, daily_days: int) -> ObjectLock:
    key = KEYS["objectLock"]
    at = key.full_name
    value = r.structured(key, scalar_ok=True)
    if value is None:
        return ObjectLock()
    if isinstance(value, str):
        value = {"mode": value}
    if not isinstance(value, dict):
        r.problem(at, f'must be "off" or {{"mode": "governance"|"compliance", "days": N}}, not {value!r}')
        return ObjectLock()
    unknown = sorted(set(value) - {"mode", "days"})
    if unknown:
        r.problem(at, f"unknown field(s) {', '.join(unknown)}: only mode and days are read")
    mode = value.get("mode")
    if mode not in OBJECT_LOCK_MODES:
        r.problem(f"{at}.mode", f"must be one of {', '.join(OBJECT_LOCK_MODES)}, not {mode!r}")
        return ObjectLock()
    days = value.get("days")
    if mode == "off":
        if days is not None:
            r.problem(f"{at}.days", "only applies when mode is governance or compliance")
        return ObjectLock()
    if isinstance(days, str) and days.isdigit():
        days = int(days)
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_DAYS:
        r.problem(f"{at}.days", f"required with mode {mode}: a whole number of days (1-{MAX_DAYS}), not {days!r}")
        return ObjectLock()
    if days > daily_days:
        r.problem(
            f"{at}.days",
            f"{days} is longer than {NAMESPACE}:retentionDailyDays ({daily_days}): daily snapshots would "
            "stay locked past the day they are meant to expire",
        )
    return ObjectLock(mode, days)
