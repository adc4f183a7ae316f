"""The pool's configuration, restored in the order the API notes give: the pool (CreateUserPool), custom
attributes, MFA, resource servers, identity providers (secrets from --secrets), app clients (new secrets
where the originals had one; the old -> new id map), the domain, and the other settings (hosted UI CSS,
threat protection, log delivery, tags, managed login branding).

Each ``*_decisions`` function reads what its step is decided on (the snapshot's items, what the target
holds, what the run has restored so far) and returns the decisions; the dry run (plan.py) shows them, the
step here carries them out.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError

from cognito_backup.restore import decisions, target
from cognito_backup.restore.calls import error_code, error_text
from cognito_backup.restore.decisions import ALREADY, Decision, Setting
from cognito_backup.restore.options import RestoreError
from cognito_backup.restore.report import resume_command
from cognito_backup.restore.schema import MAX_CUSTOM_PER_ADD
from cognito_backup.restore.state import RestoreRun

Found = Callable[[], dict[str, Any] | None]  # looks whether a create whose answer was lost took effect


def create_pool(run: RestoreRun) -> None:
    state, params = run.state, run.snapshot.pool_plan.params
    run.say(f"creating pool {params['PoolName']}")
    try:
        state.pool_id = run.aws.create("create_user_pool", lambda: (
            {"UserPool": {"Id": ids[0]}} if (ids := target.pools_named(run.aws, params["PoolName"])) else None),
            **params)["UserPool"]["Id"]
    except ClientError as exc:
        raise RestoreError(f"CreateUserPool failed: {error_text(exc)}") from None
    state.created_pool = True
    state.target_was_empty = True
    state.target_pool = run.aws.call("describe_user_pool", UserPoolId=state.pool_id)["UserPool"]
    run.say(f"created pool {state.pool_id}. If this run stops, finish it with: {resume_command(run)}")
    state.steps["pool"] = {"created": state.pool_id, "notes": run.snapshot.pool_plan.notes}


def add_custom_attributes(run: RestoreRun) -> None:
    state = run.state
    requests, already_there = decisions.custom_attributes(run.snapshot.pool.get("SchemaAttributes") or [],
                                                          state.target_pool.get("SchemaAttributes") or [])
    added = 0
    for i in range(0, len(requests), MAX_CUSTOM_PER_ADD):
        batch = requests[i:i + MAX_CUSTOM_PER_ADD]
        try:
            run.aws.call("add_custom_attributes", UserPoolId=state.pool_id, CustomAttributes=batch)
            added += len(batch)
        except ClientError as exc:
            state.fail(f"custom attributes {', '.join(a['Name'] for a in batch)}", exc)
    state.steps["custom_attributes"] = {"added_after_creation": added, "already_there": already_there}
    if added:
        run.say(f"added {added} custom attributes")


def set_mfa(run: RestoreRun) -> None:
    state, mfa = run.state, run.snapshot.pool_plan.mfa
    if mfa is None:
        state.steps["mfa"] = {"applied": False}
        return
    try:
        run.aws.call("set_user_pool_mfa_config", UserPoolId=state.pool_id, **mfa)
        state.steps["mfa"] = {"applied": True, "MfaConfiguration": mfa.get("MfaConfiguration")}
        run.say(f"MFA configuration set ({mfa.get('MfaConfiguration')})")
    except ClientError as exc:
        state.fail("SetUserPoolMfaConfig", exc)
        state.steps["mfa"] = {"applied": False}


def resource_server_decisions(run: RestoreRun) -> tuple[set[str], list[tuple[dict[str, Any], Decision]]]:
    """The target's resource servers, and the snapshot's with their decisions."""
    existing = {s["Identifier"] for s in target.resource_servers(run)}
    return existing, [(s, decisions.resource_server(s, existing)) for s in run.section_items("resource_servers")]


def restore_resource_servers(run: RestoreRun) -> None:
    state = run.state

    def find(identifier: str) -> Found:
        return lambda: next(({"ResourceServer": s} for s in target.resource_servers(run)
                             if s["Identifier"] == identifier), None)

    existing, planned = resource_server_decisions(run)
    created = 0
    for server, decision in planned:
        if decision.action != "create":
            continue
        identifier = server.get("Identifier")
        try:
            run.aws.create("create_resource_server", find(identifier), UserPoolId=state.pool_id, **decision.params)
            created += 1
        except ClientError as exc:
            state.fail(f"resource server {identifier}", exc)
    state.steps["resource_servers"] = {"created": created, "already_there": len(existing)}


def provider_decisions(run: RestoreRun) -> tuple[set[str], list[tuple[dict[str, Any], Decision]]]:
    """The target's identity providers, and the snapshot's with their decisions."""
    existing = {p["ProviderName"] for p in target.identity_providers(run)}
    o = run.options
    return existing, [(p, decisions.identity_provider(p, existing, o.secrets, o.placeholder_secret))
                      for p in run.section_items("identity_providers")]


def restore_identity_providers(run: RestoreRun) -> None:
    state, providers = run.state, run.state.providers

    def find(name: str) -> Found:
        return lambda: next(({"IdentityProvider": p} for p in target.identity_providers(run)
                             if p["ProviderName"] == name), None)

    existing, planned = provider_decisions(run)
    providers.restored |= existing
    created, skipped = [], []
    for provider, decision in planned:
        name = provider.get("ProviderName")
        if decision.action == "skip":
            skipped.append({"provider": name, "reason": decision.why})
            providers.skipped.add(name)
            run.say(f"identity provider {name} SKIPPED: {decision.why}")
        elif decision.action == "create":
            try:
                run.aws.create("create_identity_provider", find(name), UserPoolId=state.pool_id, **decision.params)
                created.append(name)
                providers.restored.add(name)
            except ClientError as exc:
                # Retried by a resume, which reuses existing clients as they are: its clients wait for it
                # (decisions.app_client) rather than be created without it.
                state.fail(f"identity provider {name}", exc)
                skipped.append({"provider": name, "reason": error_text(exc)})
                providers.failed.add(name)
    state.steps["identity_providers"] = {"created": created, "skipped": skipped, "already_there": sorted(existing)}


def client_decisions(run: RestoreRun, existing: dict[str, list[str]]
                     ) -> list[tuple[dict[str, Any], Decision, str | None]]:
    """The snapshot's app clients, with their decisions and the id of the target's client each reuses.
    ``existing``: the target's client ids by name (target.clients_by_name)."""
    left = {name: list(ids) for name, ids in existing.items()}
    out = []
    for client in decisions.clients_in_order(run.section_items("clients")):
        reused = left[client.get("ClientName")].pop(0) if left.get(client.get("ClientName")) else None
        out.append((client, decisions.app_client(client, already_there=reused is not None,
                                                 failed_providers=run.state.providers.failed,
                                                 skipped_providers=run.state.providers.skipped), reused))
    return out


def restore_clients(run: RestoreRun) -> None:
    state = run.state
    existing = target.clients_by_name(run)
    known = {i for ids in existing.values() for i in ids}  # a client listed now was not made by a create below

    def made_by_lost_create(name: str) -> Found:
        return lambda: next(({"UserPoolClient": c} for c in target.app_clients(run)
                             if c["ClientName"] == name and c["ClientId"] not in known), None)

    created = reused = 0
    for client, decision, reused_id in client_decisions(run, existing):
        name = client.get("ClientName")
        entry = {"client_name": name, "old_client_id": client.get("ClientId"), "new_client_id": reused_id,
                 "has_secret": bool(client.get("HasSecret"))}
        if decision.action == ALREADY:
            reused += 1
        elif decision.action == "wait":
            state.fail(f"app client {name}", decision.why)
        else:
            for note in decision.notes:
                state.note(note)
            try:
                new = run.aws.create("create_user_pool_client", made_by_lost_create(name),
                                     UserPoolId=state.pool_id, **decision.params)["UserPoolClient"]
                entry["new_client_id"] = new["ClientId"]
                known.add(new["ClientId"])
                created += 1
            except ClientError as exc:
                state.fail(f"app client {name}", exc)
        state.client_map.append(entry)
    with_secret = sum(1 for e in state.client_map if e["has_secret"] and e["new_client_id"])
    state.steps["clients"] = {"created": created, "already_there": reused, "with_new_secret": with_secret}
    run.say(f"app clients: {created} created, {reused} already there")


def domain_decision(run: RestoreRun) -> Decision:
    value = (run.snapshot.config.get("domain") or {}).get("value") or {}
    prefix = run.options.domain_prefix
    holder = target.domain_holder(run, prefix) if prefix else None
    decision = decisions.domain(value, prefix, holder, run.state.pool_id)
    for note in decision.notes:
        run.state.note(note)
    return decision


def restore_domain(run: RestoreRun) -> None:
    state = run.state
    value = (run.snapshot.config.get("domain") or {}).get("value") or {}
    step: dict[str, Any] = {"old_domain": (value.get("Domain") or {}).get("Domain"),
                            "old_custom_domain": (value.get("CustomDomain") or {}).get("Domain")}
    state.steps["domain"] = step
    decision, prefix = domain_decision(run), run.options.domain_prefix
    if decision.action == ALREADY:
        step["domain"] = prefix
        step["already_there"] = True
    elif decision.action == "fail":
        state.fail(f"domain {prefix}", decision.why)
    elif decision.action == "create":
        try:
            run.aws.create("create_user_pool_domain",
                           lambda: {} if target.domain_holder(run, prefix) == state.pool_id else None,
                           UserPoolId=state.pool_id, **decision.params)
            step["domain"] = prefix
            run.say(f"domain {prefix} created")
        except ClientError as exc:
            state.fail(f"domain {prefix}", exc)


def other_settings_decisions(run: RestoreRun, client_ids: dict[str, str], creates_pool: bool) -> list[Setting]:
    """The calls for the other settings the snapshot has set. ``client_ids``: old -> new, of the clients
    restored; ``creates_pool``: the run created the pool (its tags came with CreateUserPool)."""
    sections: dict[str, Any] = {name: run.section_value(name)
                                for name in ("ui_customization", "risk_configuration", "log_delivery", "tags")}
    sections["managed_login_branding"] = run.section_items("managed_login_branding")
    settings, notes = decisions.other_settings(sections, client_ids=client_ids, pool_id=run.state.pool_id,
                                               created_pool=creates_pool, target_pool=run.state.target_pool)
    for note in notes:
        run.state.note(note)
    return settings


def apply_other_settings(run: RestoreRun) -> None:
    """Hosted UI CSS, threat protection, log delivery, tags, managed login branding: only what is set."""
    state = run.state
    done: list[str] = []
    for setting in other_settings_decisions(run, state.client_ids, state.created_pool):
        try:
            run.aws.call(setting.method, **setting.params)
            done.append(setting.what)
        except ClientError as exc:
            if setting.exists_code is None or error_code(exc) != setting.exists_code:
                state.fail(setting.failure, exc)
    state.steps["other_settings"] = {"applied": done}
