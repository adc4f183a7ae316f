"""The dry run: the plan of a restore (what it would create, what it would skip and why), from reads only."""

from __future__ import annotations

from typing import Any

from cognito_backup.restore.report import STATE_AFTER
from cognito_backup.restore.requests import (
    admin_create_params,
    federated_identities,
    import_eligible,
    is_federated,
    plan_client,
    plan_provider,
    user_identity,
)
from cognito_backup.restore.state import RestoreRun
from cognito_backup.restore.target import load_existing


def dry_run(run: RestoreRun, report: dict[str, Any], target: dict[str, Any] | None) -> dict[str, Any]:
    """The plan: what would be created, what skipped and why. Only reads (the target, on resume)."""
    state, snapshot, o = run.state, run.snapshot, run.options
    p = snapshot.pool_plan
    plan: dict[str, Any] = {}
    existing: dict[str, set[str]] = {"resource_servers": set(), "providers": set(), "clients": set(),
                                     "groups": set()}
    if target is None:
        plan["pool"] = {"create": p.params["PoolName"], "schema_in_create": [a["Name"] for a in p.schema.create],
                        "custom_attributes_added_after": sum(len(b) for b in p.schema.add_later)}
    else:
        plan["pool"] = {"existing": state.pool_id, "empty": state.target_was_empty}
        if state.same_name_pool:
            plan["pool"]["why"] = (f"a pool named {p.params['PoolName']} exists already, empty (left by "
                                   "a run that stopped as it created it?): the restore fills it, creates none")
        if not state.target_was_empty:
            existing["resource_servers"] = {s["Identifier"] for s in run.aws.paginate(
                "list_resource_servers", "ResourceServers", UserPoolId=state.pool_id, MaxResults=50)}
            existing["providers"] = {pr["ProviderName"] for pr in run.aws.paginate(
                "list_identity_providers", "Providers", UserPoolId=state.pool_id, MaxResults=60)}
            existing["clients"] = {c["ClientName"] for c in run.aws.paginate(
                "list_user_pool_clients", "UserPoolClients", UserPoolId=state.pool_id, MaxResults=60)}
            existing["groups"] = load_existing(run)
    already = "skip: already in the target pool"
    plan["mfa"] = p.mfa
    plan["resource_servers"] = [{"resource_server": s.get("Identifier"),
                                 "action": already if s.get("Identifier") in existing["resource_servers"]
                                 else "create"} for s in run.section_items("resource_servers")]
    providers = []
    state.providers.restored |= existing["providers"]
    for provider in run.section_items("identity_providers"):
        name = provider.get("ProviderName")
        if name in existing["providers"]:
            providers.append({"provider": name, "action": already})
            continue
        params, reason = plan_provider(provider, o.secrets, o.placeholder_secret)
        providers.append({"provider": name, "action": "create" if params else "skip", "why": reason})
        if params:
            state.providers.restored.add(name)
    plan["identity_providers"] = providers
    skipped = {pr["provider"] for pr in providers if pr["action"] == "skip"}
    clients = []
    for client in run.section_items("clients"):
        if client.get("ClientName") in existing["clients"]:
            clients.append({"client": client.get("ClientName"), "action": already})
            continue
        _, notes = plan_client(client, skipped)
        state.notes.extend(notes)
        clients.append({"client": client.get("ClientName"), "action": "create",
                        "new_secret": bool(client.get("HasSecret"))})
    plan["clients"] = clients
    domain = ((snapshot.config.get("domain") or {}).get("value") or {}).get("Domain") or {}
    plan["domain"] = ({"create": o.domain_prefix} if o.domain_prefix else
                      {"skip": f"no --domain-prefix (old prefix: {domain.get('Domain')})"})
    users: dict[str, int] = {}
    groups: dict[str, int] = {}
    with snapshot.source.stream(if_match=snapshot.etag) as stream:
        for event in stream.events():
            if event.kind != "item":
                continue
            if event.key == "groups":
                key = already if event.value["GroupName"] in existing["groups"] else "create"
                groups[key] = groups.get(key, 0) + 1
                continue
            if event.key != "users":
                continue
            user = event.value
            if state.journal.existing_user(user_identity(user, snapshot.username_attributes)):
                key = already
            elif is_federated(user):
                key = "federated: linked to a new native user" if o.link_federated and any(
                    i["providerName"] in state.providers.restored for i in federated_identities(user)) \
                    else "skip: federated, not recreated (listed in the report)"
            elif admin_create_params(user, snapshot.username_attributes)[0] is None:
                key = "skip: no email/phone, which this pool uses as the username"
            elif snapshot.users_via == "import" and import_eligible(user, snapshot.auto_verified):
                key = "create: import job"
            else:
                key = "create: AdminCreateUser"
            users[key] = users.get(key, 0) + 1
    plan["groups"] = groups
    plan["users"] = users
    plan["memberships"] = snapshot.counts["memberships"]
    plan["disabled_users"] = snapshot.counts["disabled_users"]
    plan["users_end_in"] = STATE_AFTER[snapshot.users_via]
    report.update(status="dry-run", target_user_pool_id=state.pool_id, plan=plan, notes=state.notes + p.notes)
    return report
