"""Compare the configuration of two snapshots: every section but the users, groups and memberships.

Sections are small and compared in memory. Lists of named things are compared by name, lists of
scalars as sets; dates are never compared. ``restored=True`` compares a snapshot with the snapshot of
a pool restored from it and ignores what a restore cannot bring back (``RESTORED_IGNORES``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from backup_lambda.snapshot_format import CONFIG_SECTIONS
from cognito_backup.restore.requests import POOL_READ_ONLY, POOL_RETIRED
from cognito_backup.restore.schema import normalize_schema
from cognito_backup.restore.shapes import drop_none

NATURAL_KEYS = ("ClientName", "ProviderName", "Identifier", "ScopeName", "GroupName", "Name")

# What --restored ignores, by section (besides dates, which are never compared).
RESTORED_IGNORES: dict[str, tuple[str, ...]] = {
    "pool": POOL_READ_ONLY + POOL_RETIRED + ("Name",),
    "clients": ("ClientId", "ClientSecret", "ClientSecretArn", "ClientSecretExpiresAt", "UserPoolId"),
    "identity_providers": ("UserPoolId",),
    "resource_servers": ("UserPoolId",),
    "ui_customization": ("UserPoolId", "ClientId", "ImageUrl", "CSSVersion"),
    "risk_configuration": ("UserPoolId", "ClientId"),
    "log_delivery": ("UserPoolId",),
    "managed_login_branding": ("ManagedLoginBrandingId", "UserPoolId", "ClientId"),
}
RESTORED_SKIPPED_SECTIONS = ("domain",)
ALWAYS_IGNORED = ("EstimatedNumberOfUsers",)
NON_RESTORABLE_NOTE = ("subs, user/pool/client ids, dates, client secrets, passwords, the pool's name/ARN/domain, "
                       "federated users, the status a restore leaves (FORCE_CHANGE_PASSWORD/RESET_REQUIRED)")


def _strip(value: Any, ignore: frozenset[str]) -> Any:
    if isinstance(value, dict):
        return {k: _strip(v, ignore) for k, v in value.items()
                if k not in ignore and not k.endswith("Date") and v is not None}
    if isinstance(value, list):
        return [_strip(v, ignore) for v in value]
    return value


def _comparable(value: Any) -> Any:
    """Lists of named things become dicts by name; lists of scalars are sorted (order is not meaning)."""
    if isinstance(value, dict):
        return {k: _comparable(v) for k, v in value.items()}
    if isinstance(value, list):
        items = [_comparable(v) for v in value]
        if items and all(isinstance(v, dict) for v in items):
            for key in NATURAL_KEYS:
                names = [v.get(key) for v in items]
                if all(isinstance(n, str) for n in names) and len(set(names)) == len(names):
                    return {n: v for n, v in zip(names, items, strict=True)}
            return items
        if all(isinstance(v, str | int | float | bool) for v in items):
            return sorted(items, key=lambda v: (str(type(v)), v))
        return items
    return value


def _deep_diff(a: Any, b: Any, path: str, out: list[tuple[str, Any, Any]]) -> None:
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b), key=str):
            _deep_diff(a.get(key), b.get(key), f"{path}.{key}" if path else str(key), out)
    elif a != b:
        out.append((path, a, b))


def _section_value(name: str, section: Any, restored: bool, client_names: dict[str, str],
                   extra_ignores: Iterable[str]) -> Any:
    if name == "pool":
        pool = dict(section or {})
        pool["SchemaAttributes"] = normalize_schema(pool.get("SchemaAttributes"))
        if isinstance(pool.get("AdminCreateUserConfig"), dict):
            pool["AdminCreateUserConfig"] = {k: v for k, v in pool["AdminCreateUserConfig"].items()
                                             if k != "UnusedAccountValidityDays" or not restored}
        value: Any = pool
    else:
        value = section.get("items", section.get("value")) if isinstance(section, dict) else section
    if name == "managed_login_branding" and isinstance(value, list):
        value = [{**item, "ClientName": client_names.get(item.get("ClientId"), item.get("ClientId"))}
                 for item in value if isinstance(item, dict)]
    ignore = set(ALWAYS_IGNORED) | set(extra_ignores)
    if restored:
        ignore |= set(RESTORED_IGNORES.get(name, ()))
    return _comparable(_strip(drop_none(value), frozenset(ignore)))


def diff_config(config_a: dict[str, Any], config_b: dict[str, Any], *, restored: bool = False,
                ignore_pool_fields: Iterable[str] = ()) -> tuple[list[dict[str, Any]], list[str]]:
    """(changes [{section, path, a, b}], sections not compared because one side could not read them)."""
    changes: list[dict[str, Any]] = []
    not_compared: list[str] = []

    def names(config: dict[str, Any]) -> dict[str, str]:
        clients = config.get("clients") or {}
        return {c.get("ClientId"): c.get("ClientName") for c in clients.get("items", ()) if isinstance(c, dict)}

    names_a, names_b = names(config_a), names(config_b)
    for name in ("pool", *CONFIG_SECTIONS):
        if restored and name in RESTORED_SKIPPED_SECTIONS:
            continue
        sa, sb = config_a.get(name), config_b.get(name)
        if name != "pool":
            status_a = sa.get("status") if isinstance(sa, dict) else None
            status_b = sb.get("status") if isinstance(sb, dict) else None
            if "unavailable" in (status_a, status_b):
                not_compared.append(name)
                continue
            if status_a != status_b:
                changes.append({"section": name, "path": "status", "a": status_a, "b": status_b})
                continue
            if status_a != "present":
                continue
        extra = ignore_pool_fields if name == "pool" else ()
        found: list[tuple[str, Any, Any]] = []
        _deep_diff(_section_value(name, sa, restored, names_a, extra),
                   _section_value(name, sb, restored, names_b, extra), "", found)
        changes.extend({"section": name, "path": path, "a": a, "b": b} for path, a, b in found)
    return changes, not_compared
