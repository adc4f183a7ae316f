"""The settings of snapshot format 3: the newer pool features and each app client's own settings.

What the snapshot holds is sent back where an API takes it, with the client ids mapped to the clients the
restore created (``client_ids``: old -> new); a setting of a client that was not restored is skipped, with a note:

- ``session_configuration``: SetUserPoolSessionConfiguration;
- ``terms``: CreateTerms (``TermsExistsException``: there already);
- ``cimd_policies``: CreateCIMDPolicy, unless the target has a policy of that name for that client;
- ``client_ui_customization``: SetUICustomization with the client's CSS (a domain is needed, as for the pool's);
- ``client_risk_configuration``: SetRiskConfiguration with the client's settings;
- ``client_session_configuration``: SetUserPoolClientSessionConfiguration;
- ``replicas``: never recreated by a restore (a replica is a copy of the pool in another region, made by
  Cognito): ``replica_notes`` says which regions had one, with the command that recreates each.

A snapshot of format 1 or 2 has none of these sections: nothing is sent for them. Every request is fitted
to the operation's input shape (``fit_to_input``), as the other settings are.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable
from typing import Any

from cognito_backup.restore.decisions import Setting
from cognito_backup.restore.shapes import fit_to_input

Sections = dict[str, Any]  # name -> value (single-value sections) or items (lists)
READ_ONLY = ("UserPoolId", "ClientId", "CreationDate", "LastModifiedDate")

SECTION_OF = {"set_user_pool_session_configuration": "session_configuration", "create_terms": "terms",
              "create_cimd_policy": "cimd_policies",
              "set_user_pool_client_session_configuration": "client_session_configuration"}


def newer_settings(sections: Sections, *, client_ids: dict[str, str], pool_id: str | None, has_domain: bool,
                   existing_cimd: set[tuple[str, str]] | None = None) -> tuple[list[Setting], list[str]]:
    """The calls for the format-3 sections the snapshot holds, and notes on what is not restored.
    ``existing_cimd``: (client id, policy name) of the target's CIMD policies."""
    calls: list[Setting] = []
    notes: list[str] = []

    def setting(what: str, operation: str, method: str, params: dict[str, Any], **extra: Any) -> None:
        fitted, _ = fit_to_input(operation, {**params, "UserPoolId": pool_id})
        calls.append(Setting(what, method, fitted, extra.pop("failure", what), **extra))

    def mapped(old: str | None, what: str) -> str | None:
        new = client_ids.get(old) if old else None
        if new is None:
            notes.append(f"{what} of client {old}, which was not restored: skipped")
        return new

    session = sections.get("session_configuration")
    if session:
        setting("session configuration", "SetUserPoolSessionConfiguration", "set_user_pool_session_configuration",
                dict(session))
    for terms in sections.get("terms") or ():
        client = mapped(terms.get("ClientId"), f"terms document {terms.get('TermsName')}")
        if client:
            setting(f"terms document {terms.get('TermsName')} of client {client}", "CreateTerms", "create_terms",
                    {**_without(terms, ("TermsId",)), "ClientId": client}, exists_code="TermsExistsException")
    for policy in sections.get("cimd_policies") or ():
        name = policy.get("PolicyName")
        client = mapped(policy.get("ClientId"), f"CIMD policy {name}")
        if client and (client, name) in (existing_cimd or set()):
            notes.append(f"CIMD policy {name} of client {client}: already there")
        elif client:
            setting(f"CIMD policy {name} of client {client}", "CreateCIMDPolicy", "create_cimd_policy",
                    {**_without(policy, ("CIMDPolicyId",)), "ClientId": client})
    for item in sections.get("client_ui_customization") or ():
        css = (item.get("UICustomization") or {}).get("CSS")
        if (item.get("UICustomization") or {}).get("ImageUrl"):
            notes.append(f"the hosted UI logo of client {item.get('ClientId')} is not in the snapshot (only its "
                         "URL): upload it again")
        if not css:
            continue
        if not has_domain:
            notes.append(f"the hosted UI CSS of client {item.get('ClientId')} is not restored: SetUICustomization "
                         "needs a domain, and the new pool has none (give --domain-prefix)")
            continue
        client = mapped(item.get("ClientId"), "hosted UI CSS")
        if client:
            setting(f"hosted UI CSS of client {client}", "SetUICustomization", "set_ui_customization",
                    {"ClientId": client, "CSS": css})
    _per_client(sections, "client_risk_configuration", "RiskConfiguration", "threat protection settings",
                "SetRiskConfiguration", "set_risk_configuration", mapped, setting)
    _per_client(sections, "client_session_configuration", None, "SSO session configuration",
                "SetUserPoolClientSessionConfiguration", "set_user_pool_client_session_configuration", mapped, setting)
    return calls, notes


def _per_client(sections: Sections, name: str, key: str | None, what: str, operation: str, method: str,
                mapped: Callable[[str | None, str], str | None], setting: Callable[..., None]) -> None:
    for item in sections.get(name) or ():
        client = mapped(item.get("ClientId"), what)
        if client:
            params = _without(item[key] or {}, READ_ONLY) if key else _without(item, READ_ONLY)
            setting(f"{what} of client {client}", operation, method, {**params, "ClientId": client})


def _without(value: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    return {k: v for k, v in value.items() if k not in keys}


def replica_notes(replicas: list[dict[str, Any]], new_pool_id: str | None) -> list[dict[str, Any]]:
    """The replicas the snapshot's pool had: each region with the command that recreates it for the new pool
    (a restore does not: a replica is Cognito's copy of the pool, made and kept in sync by Cognito)."""
    out = []
    for replica in replicas:
        region = replica.get("RegionName")
        if not region or replica.get("Role") == "PRIMARY":
            continue
        command = ("aws cognito-idp create-user-pool-replica --user-pool-id "
                   f"{shlex.quote(new_pool_id or '<new pool id>')} --region-name {shlex.quote(region)}")
        out.append({"region": region, "status_in_snapshot": replica.get("Status"), "command": command})
    return out
