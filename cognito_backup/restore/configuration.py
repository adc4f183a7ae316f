"""The pool's configuration, restored in the order the API notes give: the pool (CreateUserPool), custom
attributes, MFA, resource servers, identity providers (secrets from --secrets), app clients (new secrets
where the originals had one; the old -> new id map), the domain, and the other settings (hosted UI CSS,
threat protection, log delivery, tags, managed login branding)."""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from typing import Any

from botocore.exceptions import ClientError

from cognito_backup.restore.calls import error_code, error_text
from cognito_backup.restore.options import RestoreError
from cognito_backup.restore.report import resume_command
from cognito_backup.restore.requests import plan_client, plan_provider, plan_resource_server
from cognito_backup.restore.schema import (
    MAX_CUSTOM_PER_ADD,
    custom_attribute_names,
    custom_attribute_request,
    is_custom,
)
from cognito_backup.restore.shapes import fit_to_input
from cognito_backup.restore.state import RestoreRun
from cognito_backup.restore.target import pools_named


def create_pool(run: RestoreRun) -> None:
    state, params = run.state, run.snapshot.pool_plan.params
    run.say(f"creating pool {params['PoolName']}")
    try:
        state.pool_id = run.aws.create("create_user_pool", lambda: (
            {"UserPool": {"Id": ids[0]}} if (ids := pools_named(run.aws, params["PoolName"])) else None),
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
    schema = run.snapshot.pool.get("SchemaAttributes") or ()
    wanted = {a["Name"]: a for a in schema if is_custom(a.get("Name", ""))}
    have = custom_attribute_names(state.target_pool.get("SchemaAttributes") or [])
    missing = [a for name, a in wanted.items()
               if (name if name.startswith("custom:") else name[len("dev:"):]) not in have]
    requests = [custom_attribute_request(a, []) for a in missing]
    added = 0
    for i in range(0, len(requests), MAX_CUSTOM_PER_ADD):
        batch = requests[i:i + MAX_CUSTOM_PER_ADD]
        try:
            run.aws.call("add_custom_attributes", UserPoolId=state.pool_id, CustomAttributes=batch)
            added += len(batch)
        except ClientError as exc:
            state.fail(f"custom attributes {', '.join(a['Name'] for a in batch)}", exc)
    state.steps["custom_attributes"] = {"added_after_creation": added, "already_there": len(wanted) - len(missing)}
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


def restore_resource_servers(run: RestoreRun) -> None:
    state = run.state

    def listed() -> Iterator[dict[str, Any]]:
        return run.aws.paginate("list_resource_servers", "ResourceServers", UserPoolId=state.pool_id, MaxResults=50)

    def find(identifier: str) -> Callable[[], dict[str, Any] | None]:
        return lambda: next(({"ResourceServer": s} for s in listed() if s["Identifier"] == identifier), None)

    existing = {s["Identifier"] for s in listed()}
    created = 0
    for server in run.section_items("resource_servers"):
        identifier = server.get("Identifier")
        if identifier in existing:
            continue
        try:
            run.aws.create("create_resource_server", find(identifier), UserPoolId=state.pool_id,
                           **plan_resource_server(server))
            created += 1
        except ClientError as exc:
            state.fail(f"resource server {identifier}", exc)
    state.steps["resource_servers"] = {"created": created, "already_there": len(existing)}


def restore_identity_providers(run: RestoreRun) -> None:
    state = run.state

    def listed() -> Iterator[dict[str, Any]]:
        return run.aws.paginate("list_identity_providers", "Providers", UserPoolId=state.pool_id, MaxResults=60)

    def find(name: str) -> Callable[[], dict[str, Any] | None]:
        return lambda: next(({"IdentityProvider": p} for p in listed() if p["ProviderName"] == name), None)

    existing = {p["ProviderName"] for p in listed()}
    created, skipped = [], []
    providers = state.providers
    providers.restored |= existing
    for provider in run.section_items("identity_providers"):
        name = provider.get("ProviderName")
        if name in existing:
            continue
        params, reason = plan_provider(provider, run.options.secrets, run.options.placeholder_secret)
        if params is None:
            skipped.append({"provider": name, "reason": reason})
            providers.skipped.add(name)
            run.say(f"identity provider {name} SKIPPED: {reason}")
            continue
        try:
            run.aws.create("create_identity_provider", find(name), UserPoolId=state.pool_id, **params)
            created.append(name)
            providers.restored.add(name)
        except ClientError as exc:
            # Retried by a resume, which reuses existing clients as they are: its clients wait for it
            # (restore_clients) rather than be created without it.
            state.fail(f"identity provider {name}", exc)
            skipped.append({"provider": name, "reason": error_text(exc)})
            providers.failed.add(name)
    state.steps["identity_providers"] = {"created": created, "skipped": skipped, "already_there": sorted(existing)}


def restore_clients(run: RestoreRun) -> None:
    state = run.state

    def listed() -> Iterator[dict[str, Any]]:
        return run.aws.paginate("list_user_pool_clients", "UserPoolClients", UserPoolId=state.pool_id, MaxResults=60)

    existing: dict[str, list[str]] = {}
    for c in listed():
        existing.setdefault(c["ClientName"], []).append(c["ClientId"])
    for ids in existing.values():
        ids.sort()
    known = {i for ids in existing.values() for i in ids}  # a client listed now was not made by a create below

    def made_by_lost_create(name: str) -> Callable[[], dict[str, Any] | None]:
        return lambda: next(({"UserPoolClient": c} for c in listed()
                             if c["ClientName"] == name and c["ClientId"] not in known), None)

    created = reused = 0
    clients = sorted(run.section_items("clients"), key=lambda c: (c.get("ClientName", ""), c.get("ClientId", "")))
    for client in clients:
        name = client.get("ClientName")
        entry = {"client_name": name, "old_client_id": client.get("ClientId"), "new_client_id": None,
                 "has_secret": bool(client.get("HasSecret"))}
        waiting_for = sorted(set(client.get("SupportedIdentityProviders") or ()) & state.providers.failed)
        if existing.get(name):
            entry["new_client_id"] = existing[name].pop(0)
            reused += 1
        elif waiting_for:
            state.fail(f"app client {name}", f"not created, as its identity provider {', '.join(waiting_for)} "
                       "failed: run again with --resume (or leave the provider's secret out of --secrets to "
                       "restore the client without it)")
        else:
            params, notes = plan_client(client, state.providers.skipped)
            state.notes.extend(notes)
            try:
                new = run.aws.create("create_user_pool_client", made_by_lost_create(name),
                                     UserPoolId=state.pool_id, **params)["UserPoolClient"]
                entry["new_client_id"] = new["ClientId"]
                known.add(new["ClientId"])
                created += 1
            except ClientError as exc:
                state.fail(f"app client {name}", exc)
        state.client_map.append(entry)
    with_secret = sum(1 for e in state.client_map if e["has_secret"] and e["new_client_id"])
    state.steps["clients"] = {"created": created, "already_there": reused, "with_new_secret": with_secret}
    run.say(f"app clients: {created} created, {reused} already there")


def restore_domain(run: RestoreRun) -> None:
    state = run.state
    value = (run.snapshot.config.get("domain") or {}).get("value") or {}
    old = (value.get("Domain") or {}).get("Domain")
    custom = (value.get("CustomDomain") or {}).get("Domain")
    step: dict[str, Any] = {"old_domain": old, "old_custom_domain": custom}
    state.steps["domain"] = step
    if custom:
        state.note(f"custom domain {custom} is not recreated: it belongs to the old pool until that is "
                   "deleted; then create it for the new pool with its ACM certificate")
    prefix = run.options.domain_prefix
    if not prefix:
        if old:
            state.note(f"the pool's domain prefix {old!r} was not recreated (the old pool may still hold "
                       "it): give --domain-prefix")
        return

    def owner() -> str | None:
        try:
            described = run.aws.call("describe_user_pool_domain", Domain=prefix).get("DomainDescription") or {}
        except ClientError:
            return None
        return described.get("UserPoolId")

    holder = owner()
    if holder == state.pool_id:
        step["domain"] = prefix
        step["already_there"] = True
    elif holder:
        state.fail(f"domain {prefix}", "the prefix is taken by another pool: choose another --domain-prefix")
    else:
        params: dict[str, Any] = {"Domain": prefix, "UserPoolId": state.pool_id}
        version = (value.get("Domain") or {}).get("ManagedLoginVersion")
        if version:
            params["ManagedLoginVersion"] = version
        try:
            run.aws.create("create_user_pool_domain", lambda: {} if owner() == state.pool_id else None, **params)
            step["domain"] = prefix
            run.say(f"domain {prefix} created")
        except ClientError as exc:
            state.fail(f"domain {prefix}", exc)


def apply_other_settings(run: RestoreRun) -> None:
    """Hosted UI CSS, threat protection, log delivery, tags, managed login branding: only what is set."""
    state = run.state
    done: list[str] = []
    client_ids = state.client_ids

    def apply(what: str, method: str, operation: str, params: dict[str, Any]) -> None:
        fitted, _ = fit_to_input(operation, {**params, "UserPoolId": state.pool_id})
        try:
            run.aws.call(method, **fitted)
            done.append(what)
        except ClientError as exc:
            state.fail(what, exc)

    ui = run.section_value("ui_customization") or {}
    if ui.get("CSS"):
        apply("hosted UI CSS", "set_ui_customization", "SetUICustomization", {"CSS": ui["CSS"]})
    if ui.get("ImageUrl"):
        state.note("the hosted UI logo is not in the snapshot (only its URL): upload it again")
    risk = run.section_value("risk_configuration")
    if risk:
        client = risk.get("ClientId")
        params = {k: v for k, v in risk.items() if k not in ("UserPoolId", "ClientId", "LastModifiedDate")}
        if client and client != "ALL":
            params["ClientId"] = client_ids.get(client)
        if not params.get("ClientId", True):
            state.note("threat protection settings of a client that was not restored: skipped")
        else:
            apply("threat protection settings", "set_risk_configuration", "SetRiskConfiguration", params)
    logs = run.section_value("log_delivery")
    if logs and logs.get("LogConfigurations"):
        apply("log delivery", "set_log_delivery_configuration", "SetLogDeliveryConfiguration",
              {"LogConfigurations": logs["LogConfigurations"]})
    tags = run.section_value("tags")
    if tags and not state.created_pool and tags != (state.target_pool.get("UserPoolTags") or {}):
        try:
            run.aws.call("tag_resource", ResourceArn=state.target_pool["Arn"], Tags=tags)
            done.append("tags")
        except ClientError as exc:
            state.fail("tags", exc)
    for item in run.section_items("managed_login_branding"):
        new_client = client_ids.get(item.get("ClientId"))
        branding = item.get("ManagedLoginBranding") or {}
        if not new_client:
            continue
        params = {"ClientId": new_client, "UseCognitoProvidedValues": branding.get("UseCognitoProvidedValues"),
                  "Settings": branding.get("Settings")}
        assets = branding.get("Assets") or []
        if assets and any(not isinstance(a.get("Bytes"), str) for a in assets):
            state.note("managed login branding assets are not restorable from the snapshot: upload them")
        elif assets:
            try:
                params["Assets"] = [{**a, "Bytes": base64.b64decode(a["Bytes"], validate=True)} for a in assets]
            except ValueError:
                state.note("managed login branding assets are not base64 in the snapshot: upload them")
        fitted, _ = fit_to_input("CreateManagedLoginBranding", {**params, "UserPoolId": state.pool_id})
        try:
            run.aws.call("create_managed_login_branding", **fitted)
            done.append(f"branding of client {new_client}")
        except ClientError as exc:
            if error_code(exc) != "ManagedLoginBrandingExistsException":
                state.fail(f"managed login branding of client {new_client}", exc)
    state.steps["other_settings"] = {"applied": done}
