"""The raw values of a stack as Pulumi hands them over, and the small types some keys become.

``StackValues`` reads raw values (strings, JSON text for lists and objects) and records every problem
instead of stopping at the first. Integer and boolean keys are read by their kind, with the bounds
and choices of the table (``infra/stack_keys.py``); ``infra/stack_rules.py`` has the rules of the
others.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from backup_lambda.contract import snapshot_event
from backup_lambda.errors import ConfigError as FieldError
from infra.stack_keys import REQUIRED, StackKey, default

WHOLE_NUMBER_RE = re.compile(r"[+-]?\d+")


@dataclass(frozen=True)
class Pool:
    id: str
    name: str

    def event(self) -> dict[str, str]:
        """The snapshot Lambda's event for this pool (the schedule target's constant input)."""
        return snapshot_event(self.id, self.name)


@dataclass(frozen=True)
class Retention:
    daily_days: int = default("retentionDailyDays")
    weekly_days: int = default("retentionWeeklyDays")
    monthly_days: int = default("retentionMonthlyDays")
    noncurrent_days: int = default("noncurrentVersionDays")

    def days_by_class(self) -> dict[str, int]:
        """Days to keep each retention class (the ``retention`` tag the snapshot writer sets)."""
        return {"daily": self.daily_days, "weekly": self.weekly_days, "monthly": self.monthly_days}


@dataclass(frozen=True)
class ObjectLock:
    mode: str = default("objectLock")  # "off" | "governance" | "compliance"
    days: int | None = None

    @property
    def enabled(self) -> bool:
        return self.mode != "off"


def accepted(check: Callable[[Any, str], Any], value: Any) -> bool:
    """Whether one of the function's field validators accepts the value."""
    try:
        check(value, "value")
    except FieldError:
        return False
    return True


class StackValues:
    """The raw values of one stack, and the problems found in them (``<key>: <message>``)."""

    def __init__(self, raw: Mapping[str, Any]):
        self.raw = raw
        self.problems: list[str] = []

    def problem(self, key: str, message: str) -> None:
        self.problems.append(f"{key}: {message}")

    def get(self, key: StackKey) -> Any:
        value = self.raw.get(key.full_name)
        if value == "" and key.default != "":  # `pulumi config set KEY ""` means "not set"
            return None
        return value

    def structured(self, key: StackKey, *, scalar_ok: bool = False) -> Any:
        """A list or object value: Pulumi hands these over as JSON text."""
        value = self.get(key)
        if isinstance(value, str):
            try:
                return json.loads(value)
            except json.JSONDecodeError:
                if scalar_ok:
                    return value
                self.problem(
                    key.full_name,
                    f"is not valid JSON: {value!r} (set lists and objects with `pulumi config set --path` "
                    "or in the stack file)",
                )
                return None
        return value

    def integer(self, key: StackKey) -> int:
        """A whole number within the key's bounds and among its choices; the default if unset."""
        value = self.get(key)
        if value is None:
            return key.default
        if isinstance(value, str) and WHOLE_NUMBER_RE.fullmatch(value.strip()):
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            self.problem(key.full_name, f"must be a whole number, not {value!r}")
            return key.default
        if key.low is not None and key.high is not None and not key.low <= value <= key.high:
            self.problem(key.full_name, f"must be between {key.low} and {key.high}, not {value}")
            return key.default
        if key.choices and value not in key.choices:
            choices = ", ".join(str(c) for c in key.choices)
            self.problem(key.full_name, f"{value} is not {key.choices_are}: {choices}")
            return key.default
        return value

    def boolean(self, key: StackKey) -> bool:
        value = self.get(key)
        if value is None:
            return key.default
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in ("true", "false"):
            return value.strip().lower() == "true"
        self.problem(key.full_name, f"must be true or false, not {value!r}")
        return key.default

    def string(self, key: StackKey) -> str | None:
        value = self.get(key)
        if value is not None and not isinstance(value, str):
            self.problem(key.full_name, f"must be a string, not {value!r}")
            return None
        return value

    def field(self, where: str, check: Callable[[Any, str], Any], value: Any) -> Any:
        """Run one of the function's own validators; its complaint becomes this key's problem."""
        try:
            return check(value, "value")
        except FieldError as error:
            self.problem(where, str(error))
            return None

    def required(self, key: StackKey, what: str) -> None:
        if key.default == REQUIRED and self.get(key) is None:
            self.problem(key.full_name, f"required: {what}")
