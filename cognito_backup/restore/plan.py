"""The dry run: the plan of a restore (what it will create, what it will skip and why), from reads only.

It goes through the real run's steps in their order and asks each for its decisions: the same functions
(``configuration.*_decisions``, ``users.snapshot_items`` and ``followups.*_decisions``), on the same reads of the
snapshot and of the target. It also says what the run leads to for the users (how many change status, who loses
MFA), which trigger functions need which permission, the overrides, and every ARN and URL the restore may send,
grouped by account (references.py, foreign.py: the run refuses other accounts' ARNs), for review. Where the run
carries a decision out, the plan records what it will lead to: providers and clients as restored, each user
journaled in the state its decision leads to (so that memberships, disabled users and federated links are decided
on what the run will have made), and then the same user summary as the run's report (``report.user_outcomes``).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from cognito_backup.restore import configuration, decisions, followups, target, triggers, users
from cognito_backup.restore.decisions import Decision, UserAction
from cognito_backup.restore.references import grouped
from cognito_backup.restore.report import STATE_AFTER, user_outcomes
from cognito_backup.restore.state import RestoreRun


def dry_run(run: RestoreRun, report: dict[str, Any], target_pool: dict[str, Any] | None,
            refs: list[tuple[str, str]]) -> dict[str, Any]:
    """``report`` with the plan; ``target_pool``: the target's description (None: the run creates the pool);
    ``refs``: what the run may send outside the new pool (foreign.sent_references), and ``report["foreign_arns"]``
    what the run makes of them."""
    state, snapshot, o = run.state, run.snapshot, run.options
    plan: dict[str, Any] = {"pool": _pool(run, target_pool), "mfa": snapshot.pool_plan.mfa}

    _, servers = configuration.resource_server_decisions(run)
    plan["resource_servers"] = [_entry("resource_server", s.get("Identifier"), d) for s, d in servers]

    existing, providers = configuration.provider_decisions(run)
    state.providers.restored |= existing
    for provider, decision in providers:
        name = provider.get("ProviderName")
        if decision.action == "create":
            state.providers.restored.add(name)
        elif decision.action == "skip":
            state.providers.skipped.add(name)
    plan["identity_providers"] = [_entry("provider", p.get("ProviderName"), d) for p, d in providers]
    if snapshot.renames:
        plan["identity_providers_renamed"] = snapshot.renames

    groups: Counter[str] = Counter()
    planned: Counter[str] = Counter()
    status_changes: Counter[str] = Counter()
    with_mfa = 0
    for kind, item, decision in users.snapshot_items(run, target.load_existing(run)):
        if kind == "group":
            groups[decision] += 1
            continue
        planned[decision.action.label] += 1
        if decision.action.done != decision.action.state:  # the run will create it
            state.journal.set_user(item["Username"], state=decision.action.done,
                                   new_username=decision.params["Username"])
            after = STATE_AFTER["import" if decision.action is UserAction.IMPORT else "admin-create"]
            if item.get("UserStatus") != after:
                status_changes[f"{item.get('UserStatus')} -> {after}"] += 1
            with_mfa += bool(item.get("MFAOptions"))
    plan["groups"], plan["users"] = dict(groups), dict(planned)
    plan["status_changes"] = dict(status_changes.most_common())
    plan["mfa_loss"] = {"users_with_mfa_options": with_mfa, "totp": _totp(snapshot.pool_plan.mfa)}
    plan["memberships"] = dict(Counter(action for action, _ in followups.membership_decisions(run)))
    plan["disabled_users"] = dict(Counter(action for action, _ in followups.disabled_decisions(run)))
    if o.link_federated:
        links: Counter[str] = Counter()
        for action, (old_username, _, _) in followups.link_decisions(run):
            links[action] += 1
            if action == "link":
                state.journal.set_user(old_username, state="linked")
        plan["federated_links"] = dict(links)

    clients, client_ids = [], {}
    for client, decision, reused_id in configuration.client_decisions(run, target.clients_by_name(run)):
        name = client.get("ClientName")
        entry = _entry("client", name, decision)
        if decision.action == "create":
            entry["new_secret"] = bool(decision.params.get("GenerateSecret"))
            for note in decision.notes:
                state.note(note)
        if decision.action in ("create", decisions.ALREADY):
            client_ids[client.get("ClientId")] = reused_id or f"(the new id of {name})"
        clients.append(entry)
    plan["clients"] = clients
    plan["clients_after"] = "the users, their memberships and the disabled state (no client while a disabled " \
                            "user is enabled)"

    domains = configuration.domain_decisions(run)
    plan["domain"] = [_entry("domain", d, decision) for d, decision in domains]
    if len(plan["domain"]) == 1:
        plan["domain"] = plan["domain"][0]
    settings = configuration.other_settings_decisions(run, client_ids, creates_pool=target_pool is None)
    plan["other_settings"] = [s.what for s in settings]
    plan["triggers"] = triggers.plan_entries(run)
    gate = report.get("foreign_arns") or {}
    plan["outside_references"] = grouped(refs, (snapshot.config.get("source") or {}).get("account"),
                                         gate.get("account"))
    if gate.get("refused"):
        accounts = ", ".join(sorted({a["account"] for a in gate["arns"]}))
        state.note(f"the run would refuse this snapshot: {len(gate['arns'])} ARN(s) of {accounts}, not of account "
                   f"{gate['account']} where it restores (listed above): point them here with --override PATH=ARN, "
                   "leave the triggers out with --without-triggers, or give --allow-foreign-arns")
    plan.update(user_outcomes(state.journal))
    plan["users_end_in"] = STATE_AFTER[snapshot.users_via]
    report.update(status="dry-run", target_user_pool_id=state.pool_id, plan=plan,
                  notes=state.notes + snapshot.pool_plan.notes)
    return report


def _totp(mfa: dict[str, Any] | None) -> str | None:
    """What the plan says of TOTP, which the snapshot cannot see per user."""
    if (mfa or {}).get("SoftwareTokenMfaConfiguration", {}).get("Enabled"):
        return ("the pool allows TOTP (authenticator apps): every user who enrolled one (a snapshot cannot say "
                "who) loses it and enrols again")
    return None


def _pool(run: RestoreRun, target_pool: dict[str, Any] | None) -> dict[str, Any]:
    state, pool_plan = run.state, run.snapshot.pool_plan
    if target_pool is None:
        return {"create": pool_plan.params["PoolName"],
                "schema_in_create": [a["Name"] for a in pool_plan.schema.create],
                "custom_attributes_added_after": sum(len(b) for b in pool_plan.schema.add_later)}
    missing, _ = decisions.custom_attributes(run.snapshot.pool.get("SchemaAttributes") or [],
                                             target_pool.get("SchemaAttributes") or [])
    out = {"existing": state.pool_id, "empty": state.target_was_empty, "custom_attributes_added_after": len(missing)}
    if state.same_name_pool:
        out["why"] = (f"a pool named {pool_plan.params['PoolName']} exists already, empty (left by a run that "
                      "stopped as it created it?): the restore fills it, creates none")
    return out


def _entry(kind: str, name: str | None, decision: Decision) -> dict[str, Any]:
    entry: dict[str, Any] = {kind: name, "action": decision.action}
    if decision.why:
        entry["why"] = decision.why
    return entry
