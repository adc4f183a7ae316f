"""The one kind of statement the CI roles' policies are made of."""

from __future__ import annotations


def allow(sid: str, actions: list[str], resources: list[str] | str, condition: dict | None = None) -> dict:
    statement = {"Sid": sid, "Effect": "Allow", "Action": sorted(set(actions)), "Resource": resources}
    if condition:
        statement["Condition"] = condition
    return statement


def as_list(value: list[str] | str) -> list[str]:
    return value if isinstance(value, list) else [value]
