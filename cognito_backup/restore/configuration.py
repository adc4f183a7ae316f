"""The pool's configuration: the pool (CreateUserPool, without its triggers: triggers.py attaches them last),
custom attributes, MFA, resource servers, identity providers (secrets from --secrets; renamed where
CreateIdentityProvider refuses the snapshot's name), and, once the users are in and disabled where the snapshot
says so, app clients (new secrets where the originals had one; the old -> new id map), the domain, and the other
settings (hosted UI CSS, threat protection, log delivery, tags, managed login branding, and format 3's newer
pool features and per-client settings: newer_settings.py).

Each ``*_decisions`` function reads what its step is decided on (the snapshot's items, what the target
holds, what the run has restored so far) and returns the decisions; the dry run (plan.py) shows them, the
step here carries them out.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError

from cognito_backup.restore import decisions, target
from cognito_backup.restore.calls import error_code, error_text
from cognito_backup.restore.decisions import ALREADY, Decision, Setting
from cognito_backup.restore.newer_settings import newer_settings, replica_notes
from cognito_backup.restore.options import RestoreError
from cognito_backup.restore.report import resume_command
from cognito_backup.restore.requests import without_inactive_half
from cognito_backup.restore.schema import MAX_CUSTOM_PER_ADD
from cognito_backup.restore.state import RestoreRun

Found = Callable[[], dict[str, Any] | None]  # looks whether a create whose answer was lost took effect


REFUSED_MESSAGE = re.compile(r"messag|subject|templat", re.IGNORECASE)


def with_template_fallback(run: RestoreRun, method: str, params: dict[str, Any],
                           find: Found | None = None) -> dict[str, Any]:
    """CreateUserPool / UpdateUserPool with both halves of the verification message template; only if AWS
    refuses the message, again with the half DefaultEmailOption uses, and the other half reported as lost."""
    def send(request: dict[str, Any]) -> dict[str, Any]:
        return run.aws.create(method, find, **request) if find else run.aws.call(method, **request)

    try:
        return send(params)
    except ClientError as exc:
        fallback, dropped = without_inactive_half(params)
        if not dropped or error_code(exc) != "InvalidParameterException" or \
                not REFUSED_MESSAGE.search(error_text(exc)):
            raise
        refusal = error_text(exc)
    answer = send(fallback)
    state = run.state
    for field in dropped:
        path = f"pool.{field}"
        if path not in state.expected_differences:
            state.expected_differences.append(path)
            state.not_restored.append({"what": path, "why": f"AWS refused it ({refusal}): the pool has "
                                                             "only the verification message DefaultEmailOption uses"})
    state.note(f"AWS refused both halves of the verification message template ({refusal}): the pool keeps "
               f"the half DefaultEmailOption uses; not restored: {', '.join(dropped)}")
    return answer


def create_pool(run: RestoreRun) -> None:
    state, params = run.state, run.snapshot.pool_plan.params
    run.say(f"creating pool {params['PoolName']}")
    try:
        state.pool_id = with_template_fallback(run, "create_user_pool", params, lambda: (
            {"UserPool": {"Id": ids[0]}} if (ids := target.pools_named(run.aws, params["PoolName"])) else None),
        )["UserPool"]["Id"]
    except ClientError as exc:
        raise RestoreError(f"CreateUserPool failed: {error_text(exc)}{_override_hint(exc)}") from None
    state.created_pool = True
    state.target_was_empty = True
    state.target_pool = run.aws.call("describe_user_pool", UserPoolId=state.pool_id)["UserPool"]
    run.say(f"created pool {state.pool_id}. If this run stops, finish it with: {resume_command(run)}")
    state.steps["pool"] = {"created": state.pool_id, "notes": run.snapshot.pool_plan.notes}


def _override_hint(exc: ClientError) -> str:
    """What to override when CreateUserPool refuses a setting that points at the old pool or account."""
    code = error_code(exc) or ""
    hints = {
        "InvalidSmsRoleTrustRelationshipException": "the SMS role does not trust the new pool: give another role "
        "or ExternalId: --override pool.SmsConfiguration.SnsCallerArn=ARN --override "
        "pool.SmsConfiguration.ExternalId=ID",
        "InvalidSmsRoleAccessPolicyException": "the SMS role may not publish with SNS: --override "
        "pool.SmsConfiguration.SnsCallerArn=ARN",
        "InvalidEmailRoleAccessPolicyException": "Cognito may not send from that SES identity: --override "
        "pool.EmailConfiguration.SourceArn=ARN (or pool.EmailConfiguration.EmailSendingAccount=COGNITO_DEFAULT)",
        "KMSException": "the custom sender key: --override pool.LambdaConfig.KMSKeyID=ARN",
    }
    hint = hints.get(code)
    if hint is None and "kms" in error_text(exc).lower():
        hint = hints["KMSException"]
    return f". {hint[0].upper()}{hint[1:]} (see docs/restoring.md, Overrides)" if hint else ""


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
    """The snapshot's identity providers already in the target (by the snapshot's names), and the snapshot's
    providers with their decisions."""
    names = run.snapshot.provider_names
    in_target = {p["ProviderName"] for p in target.identity_providers(run)}
    o = run.options
    planned = [(p, decisions.identity_provider(p, in_target, o.secrets, o.placeholder_secret,
                                               names.get(p.get("ProviderName"))))
               for p in run.section_items("identity_providers")]
    existing = {p.get("ProviderName") for p, d in planned if d.action == ALREADY}
    for old, new in run.snapshot.renames.items():
        run.state.note(f"identity provider {old!r}: CreateIdentityProvider refuses that name, restored as {new!r} "
                       "(its clients and linked identities use the new name; the mapping file lists it)")
    return existing, planned


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
        new_name = run.snapshot.provider_names.get(name, name)
        if decision.action == "skip":
            skipped.append({"provider": name, "reason": decision.why})
            providers.skipped.add(name)
            run.say(f"identity provider {name} SKIPPED: {decision.why}")
        elif decision.action == "create":
            try:
                run.aws.create("create_identity_provider", find(new_name), UserPoolId=state.pool_id,
                               **decision.params)
                created.append(name)
                providers.restored.add(name)
            except ClientError as exc:
                # Retried by a resume, which reuses existing clients as they are: its clients wait for it
                # (decisions.app_client) rather than be created without it.
                state.fail(f"identity provider {name}", exc)
                skipped.append({"provider": name, "reason": error_text(exc)})
                providers.failed.add(name)
    state.steps["identity_providers"] = {"created": created, "skipped": skipped, "already_there": sorted(existing)}
    if run.snapshot.renames:
        state.steps["identity_providers"]["renamed"] = run.snapshot.renames


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
                                                 skipped_providers=run.state.providers.skipped,
                                                 renames=run.snapshot.renames,
                                                 disabled_pending=run.state.disabled_pending), reused))
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
                 "has_secret": bool(client.get("HasSecret") or client.get("ClientSecretArn"))}
        if client.get("ClientType") == "DCR":
            entry["was_dynamic_registration"] = True
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
                if new.get("ClientSecretArn"):
                    entry["new_secret_arn"] = new["ClientSecretArn"]
                known.add(new["ClientId"])
                created += 1
            except ClientError as exc:
                state.fail(f"app client {name}", exc)
        state.client_map.append(entry)
    with_secret = sum(1 for e in state.client_map if e["has_secret"] and e["new_client_id"])
    state.steps["clients"] = {"created": created, "already_there": reused, "with_new_secret": with_secret}
    run.say(f"app clients: {created} created, {reused} already there")


def domain_prefix(run: RestoreRun) -> str | None:
    """--domain-prefix, or the override of the prefix domain (domain.Domain.Domain)."""
    override = run.options.overrides.get("domain.Domain.Domain")
    return run.options.domain_prefix or (override.shown() if override else None)


def custom_domain_requested(run: RestoreRun) -> bool:
    """Any override of the custom domain (its name, its certificate) has it created."""
    return any(o.section == "domain" and o.item == "CustomDomain" for o in run.options.overrides.values())


def domain_decisions(run: RestoreRun) -> list[tuple[str, Decision]]:
    """(the domain, its decision) for the prefix domain and the custom domain."""
    value = (run.snapshot.config.get("domain") or {}).get("value") or {}
    prefix = domain_prefix(run)
    custom = ((value.get("CustomDomain") or {}).get("Domain") if custom_domain_requested(run) else None)
    out = [(prefix, decisions.domain(value, prefix, target.domain_holder(run, prefix) if prefix else None,
                                     run.state.pool_id, requested_custom=custom_domain_requested(run)))]
    if custom:
        out.append((custom, decisions.custom_domain(value.get("CustomDomain") or {},
                                                    target.domain_holder(run, custom), run.state.pool_id)))
    for _, decision in out:
        for note in decision.notes:
            run.state.note(note)
    return out


def restore_domain(run: RestoreRun) -> None:
    state = run.state
    value = (run.snapshot.config.get("domain") or {}).get("value") or {}
    step: dict[str, Any] = {"old_domain": (value.get("Domain") or {}).get("Domain"),
                            "old_custom_domain": (value.get("CustomDomain") or {}).get("Domain")}
    state.steps["domain"] = step
    for domain, decision in domain_decisions(run):
        key = "custom_domain" if domain and "." in domain else "domain"
        if decision.action == ALREADY:
            step[key] = domain
            step["already_there" if key == "domain" else "custom_domain_already_there"] = True
        elif decision.action == "fail":
            state.fail(f"domain {domain}", decision.why)
        elif decision.action == "create":
            try:
                run.aws.create("create_user_pool_domain",
                               lambda d=domain: {} if target.domain_holder(run, d) == state.pool_id else None,
                               UserPoolId=state.pool_id, **decision.params)
                step[key] = domain
                run.say(f"domain {domain} created")
            except ClientError as exc:
                state.fail(f"domain {domain}", exc)


def has_domain(run: RestoreRun) -> bool:
    """Whether the target has (or, in a plan, will have) a domain: the hosted UI needs one."""
    if run.state.target_pool.get("Domain") or run.state.target_pool.get("CustomDomain"):
        return True
    step = run.state.steps.get("domain")
    if step is not None:
        return bool(step.get("domain") or step.get("custom_domain"))
    return any(d.action in ("create", ALREADY) for _, d in domain_decisions(run))


def other_settings_decisions(run: RestoreRun, client_ids: dict[str, str], creates_pool: bool) -> list[Setting]:
    """The calls for the other settings the snapshot has set. ``client_ids``: old -> new, of the clients
    restored; ``creates_pool``: the run created the pool (its tags came with CreateUserPool)."""
    sections: dict[str, Any] = {name: run.section_value(name)
                                for name in ("ui_customization", "risk_configuration", "log_delivery", "tags")}
    sections["managed_login_branding"] = run.section_items("managed_login_branding")
    settings, notes = decisions.other_settings(sections, client_ids=client_ids, pool_id=run.state.pool_id,
                                               created_pool=creates_pool, target_pool=run.state.target_pool,
                                               has_domain=has_domain(run))
    newer: dict[str, Any] = {"session_configuration": run.section_value("session_configuration")}
    newer.update({name: run.section_items(name) for name in ("terms", "cimd_policies", "client_ui_customization",
                                                               "client_risk_configuration",
                                                               "client_session_configuration")})
    more, more_notes = newer_settings(newer, client_ids=client_ids, pool_id=run.state.pool_id,
                                      has_domain=has_domain(run), existing_cimd=target.cimd_policies(run))
    settings, notes = settings + more, notes + more_notes
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
    replicas = replica_notes(run.section_items("replicas"), state.pool_id)
    if replicas:
        state.steps["replicas_to_recreate"] = replicas
        for replica in replicas:
            state.note(f"the snapshot's pool had a replica in {replica['region']}: not recreated by a restore; "
                       f"recreate it with: {replica['command']}")
