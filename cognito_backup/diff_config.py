"""Compare the configuration of two snapshots: every section but the users, groups and memberships.

Sections are small and compared in memory. Lists of named things are compared by name, lists of
scalars as sets; dates are never compared. ``restored=True`` compares a snapshot with the snapshot of
a pool restored from it and ignores what a restore cannot bring back: ``NON_RESTORABLE``, the one list
of it, which ``diff --restored``, ``restore --check`` and the drill apply and docs/restoring.md renders
(``non_restorable_table``). Beyond that list a restore may report ``expected`` differences of its own
(an override, a verification-message half AWS refused) and provider ``renames``: those are applied too.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from backup_lambda.snapshot_format import CONFIG_SECTIONS, NEW_IN_V3
from cognito_backup.restore.requests import POOL_READ_ONLY, POOL_RETIRED
from cognito_backup.restore.schema import normalize_schema
from cognito_backup.restore.shapes import drop_none

# Sections whose items belong to an app client (``ClientId``): compared by the client's name, as ids change.
CLIENT_KEYED = ("managed_login_branding", "terms", "cimd_policies", "client_ui_customization",
                "client_risk_configuration", "client_session_configuration")
NATURAL_KEYS = ("ClientName", "ProviderName", "Identifier", "ScopeName", "GroupName", "Name")


@dataclass(frozen=True)
class NonRestorable:
    """Something a restore cannot bring back: what it is, why and what happens instead, and the fields (by
    section; ``users`` means the users' documents) that ``diff --restored`` ignores for it."""

    what: str
    instead: str
    ignores: tuple[tuple[str, str], ...] = ()


NON_RESTORABLE: tuple[NonRestorable, ...] = (
    NonRestorable("Passwords", "Cognito never exposes them: users reset their password."),
    NonRestorable("MFA: TOTP secrets, passkeys, remembered devices, each user's MFA options",
                  "Never exposed (or not in a snapshot): users enrol again. The dry run counts the users who "
                  "had MFA options. With `captureUserMfa`, SMS and email MFA come back and the report lists the "
                  "users who had TOTP.", (("users", "mfa_options"),)),
    NonRestorable("`sub`", "A new pool gives new subs: the mapping file maps old to new.", (("users", "sub"),)),
    NonRestorable("Creation and modification dates", "Set by Cognito at creation."),
    NonRestorable("User status", "`FORCE_CHANGE_PASSWORD` (AdminCreateUser) or `RESET_REQUIRED` (import).",
                  (("users", "status"),)),
    NonRestorable("Pool id, ARN, name; app-client ids; branding ids",
                  "New ones: the mapping file maps client ids (and renamed identity providers).",
                  tuple(("pool", f) for f in POOL_READ_ONLY + ("Name",) if f not in ("Domain", "CustomDomain"))
                  + (("clients", "ClientId"), ("clients", "UserPoolId"), ("identity_providers", "UserPoolId"),
                     ("resource_servers", "UserPoolId"), ("ui_customization", "UserPoolId"),
                     ("ui_customization", "ClientId"), ("risk_configuration", "UserPoolId"),
                     ("risk_configuration", "ClientId"), ("log_delivery", "UserPoolId"),
                     ("managed_login_branding", "ManagedLoginBrandingId"),
                     ("managed_login_branding", "UserPoolId"), ("managed_login_branding", "ClientId"),
                     ("terms", "TermsId"), ("terms", "UserPoolId"), ("terms", "ClientId"),
                     ("cimd_policies", "CIMDPolicyId"), ("cimd_policies", "UserPoolId"), ("cimd_policies", "ClientId"),
                     ("client_ui_customization", "ClientId"), ("client_ui_customization", "UserPoolId"),
                     ("client_risk_configuration", "ClientId"), ("client_risk_configuration", "UserPoolId"),
                     ("client_session_configuration", "ClientId"))),
    NonRestorable("App-client secrets",
                  "New secrets are generated where the original had one; a secret kept in Secrets Manager is "
                  "published there again, under a new ARN (the mapping file's `new_secret_arn`).",
                  (("clients", "ClientSecret"), ("clients", "ClientSecretArn"), ("clients", "ClientSecretExpiresAt"))),
    NonRestorable("Clients made by dynamic client registration (DCR)",
                  "Recreated as regular clients with the same settings (reported): the application registers "
                  "again or uses the new client id.", (("clients", "ClientType"),)),
    NonRestorable("Identity-provider secrets", "Supplied with `--secrets` (a provider without one is skipped)."),
    NonRestorable("Identity-provider names that CreateIdentityProvider refuses (a space, an underscore after "
                  "the second character, fewer than 3 characters)",
                  "Renamed (reported, and in the mapping file's `identity_providers`); its clients and linked "
                  "identities use the new name, and the check compares under the new name."),
    NonRestorable("Federated users as such", "Listed; they come back at next sign-in, or `--link-federated` "
                  "creates a native user for each and links the provider identity (not compared either).",
                  (("users", "federated"),)),
    NonRestorable("Domain", "Recreated with `--domain-prefix` (the old prefix may be taken); a custom domain with "
                  "`--override domain.CustomDomain.CustomDomainConfig.CertificateArn=ARN` (see Overrides).",
                  (("domain", "*"), ("pool", "Domain"), ("pool", "CustomDomain"))),
    NonRestorable("Hosted UI logo; branding assets the snapshot holds only as lossy text",
                  "Only the logo's URL is in the snapshot, and older snapshots hold binary branding assets as lossy "
                  "text: upload them again (the report names each asset; text assets such as SVG come back).",
                  (("ui_customization", "ImageUrl"), ("ui_customization", "CSSVersion"),
                   ("client_ui_customization", "ImageUrl"), ("client_ui_customization", "CSSVersion"))),
    NonRestorable("Multi-region replicas", "Not recreated (Cognito makes and syncs a replica): the report lists "
                  "each region with the `aws cognito-idp create-user-pool-replica` command for the new pool.",
                  (("replicas", "*"),)),
    NonRestorable("Pool fields AWS retired", "The retired verification messages (`EmailVerificationMessage`, "
                  "`EmailVerificationSubject`, `SmsVerificationMessage`) and `UnusedAccountValidityDays`: "
                  "AWS refuses them at creation; the verification message template carries the same text.",
                  tuple(("pool", f) for f in POOL_RETIRED + ("UnusedAccountValidityDays",))),
    NonRestorable("The inactive half of the verification message, only when AWS refuses it",
                  "Both halves are sent; if CreateUserPool refuses them, the pool is created with the half "
                  "`DefaultEmailOption` uses, and the report and `--check` name the other half as not restored."),
)


def restored_ignores(section: str) -> frozenset[str]:
    """The fields of ``section`` that ``diff --restored`` ignores (``NON_RESTORABLE``)."""
    return frozenset(field for item in NON_RESTORABLE for s, field in item.ignores if s == section)


RESTORED_SKIPPED_SECTIONS = tuple(s for item in NON_RESTORABLE for s, field in item.ignores if field == "*")
ALWAYS_IGNORED = ("EstimatedNumberOfUsers",)
NON_RESTORABLE_NOTE = "what docs/restoring.md lists as not restorable: " + "; ".join(
    item.what.replace("`", "") for item in NON_RESTORABLE)


def non_restorable_table() -> str:
    """``NON_RESTORABLE`` as the Markdown table docs/restoring.md quotes."""
    rows = ["| Not restored | Why, and what happens instead |", "|---|---|"]
    rows += [f"| {item.what} | {item.instead} |" for item in NON_RESTORABLE]
    return "\n".join(rows)


def is_expected(section: str, path: str, expected: Iterable[str]) -> bool:
    """Whether the change at ``section`` / ``path`` is one of the ``expected`` differences (``section.path``
    or a parent of it)."""
    full = f"{section}.{path}" if path else section
    return any(full == e or full.startswith(e + ".") for e in expected)


def renamed_config(config: dict[str, Any], renames: dict[str, str]) -> dict[str, Any]:
    """``config`` with identity providers renamed (old name -> new), in the providers and the clients."""
    if not renames:
        return config
    config = dict(config)
    providers = config.get("identity_providers")
    if isinstance(providers, dict) and isinstance(providers.get("items"), list):
        config["identity_providers"] = {**providers, "items": [
            {**p, "ProviderName": renames.get(p.get("ProviderName"), p.get("ProviderName"))}
            for p in providers["items"]]}
    clients = config.get("clients")
    if isinstance(clients, dict) and isinstance(clients.get("items"), list):
        config["clients"] = {**clients, "items": [
            {**c, "SupportedIdentityProviders": [renames.get(p, p) for p in c["SupportedIdentityProviders"]]}
            if isinstance(c.get("SupportedIdentityProviders"), list) else c for c in clients["items"]]}
    return config


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


def _section_value(name: str, section: Any, restored: bool, client_names: dict[str, str]) -> Any:
    if name == "pool":
        pool = dict(section or {})
        pool["SchemaAttributes"] = normalize_schema(pool.get("SchemaAttributes"))
        value: Any = pool
    else:
        value = section.get("items", section.get("value")) if isinstance(section, dict) else section
    if name in CLIENT_KEYED and isinstance(value, list):  # matched by the client's name, not its id
        value = [{**item, "ClientName": client_names.get(item.get("ClientId"), item.get("ClientId"))}
                 for item in value if isinstance(item, dict)]
    ignore = set(ALWAYS_IGNORED)
    if restored:
        ignore |= restored_ignores(name)
    return _comparable(_strip(drop_none(value), frozenset(ignore)))


def diff_config(config_a: dict[str, Any], config_b: dict[str, Any], *, restored: bool = False,
                ignore_pool_fields: Iterable[str] = (), expected: Iterable[str] = (),
                renames: dict[str, str] | None = None) -> tuple[list[dict[str, Any]], list[str]]:
    """(changes [{section, path, a, b}], sections not compared because one side could not read them).
    ``expected``: differences to leave out (``section.path``, e.g. ``pool.SmsConfiguration.ExternalId``);
    ``renames``: identity providers restored under another name (old -> new), applied to A."""
    expected = tuple(expected) + tuple(f"pool.{f}" for f in ignore_pool_fields)
    if restored:
        config_a = renamed_config(config_a, renames or {})
    changes: list[dict[str, Any]] = []
    not_compared: list[str] = []

    def names(config: dict[str, Any]) -> dict[str, str]:
        clients = config.get("clients") or {}
        return {c.get("ClientId"): c.get("ClientName") for c in clients.get("items", ()) if isinstance(c, dict)}

    names_a, names_b = names(config_a), names(config_b)
    for name in ("pool", *CONFIG_SECTIONS):  # a section one snapshot's format lacks is not compared
        if restored and name in RESTORED_SKIPPED_SECTIONS:
            continue
        sa, sb = config_a.get(name), config_b.get(name)
        if name != "pool":
            if name in NEW_IN_V3 and (sa is None or sb is None):  # a snapshot of format 1 or 2: not held there
                if sa is not None or sb is not None:
                    not_compared.append(name)
                continue
            status_a = sa.get("status") if isinstance(sa, dict) else None
            status_b = sb.get("status") if isinstance(sb, dict) else None
            if "unavailable" in (status_a, status_b):
                not_compared.append(name)
                continue
            if status_a != status_b and not is_expected(name, "status", expected):
                changes.append({"section": name, "path": "status", "a": status_a, "b": status_b})
                continue
            if status_a != "present" or status_b != "present":
                continue
        found: list[tuple[str, Any, Any]] = []
        _deep_diff(_section_value(name, sa, restored, names_a), _section_value(name, sb, restored, names_b), "", found)
        changes.extend({"section": name, "path": path, "a": a, "b": b} for path, a, b in found
                       if not is_expected(name, path, expected))
    return changes, not_compared
