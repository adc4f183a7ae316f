"""The target pool: finding a pool of --new-pool-name left by a run that stopped, checking that a pool may be
restored into (empty, or --resume; signing users in as the snapshot's pool did), and reading what it holds
(a resumed restore): what the decisions are taken against, in the dry run as in the real run. A dry run of
a restore into a new pool has no target yet: it holds nothing."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from botocore.exceptions import ClientError

from backup_lambda.pool_reader import PoolReader
from backup_lambda.quotas import QUOTA_RPS
from cognito_backup.restore.calls import Calls, error_text
from cognito_backup.restore.options import RestoreError
from cognito_backup.restore.report import resume_command
from cognito_backup.restore.requests import attributes_of, user_identity
from cognito_backup.restore.state import RestoreRun


def pools_named(aws: Calls, name: str) -> list[str]:
    return [p["Id"] for p in aws.paginate("list_user_pools", "UserPools", MaxResults=60) if p["Name"] == name]


def pool_of_the_same_name(run: RestoreRun) -> dict[str, Any] | None:
    """Before CreateUserPool: is a pool of that name there already? A run whose CreateUserPool answer was
    lost never learned the pool's id (so printed no resume command), and the operator runs the same command
    again. An empty pool of the name is taken as the target (that run's pool); one with contents, or several
    pools of the name, and the restore refuses, naming them and the resume command."""
    name = run.snapshot.pool_plan.params["PoolName"]
    ids = pools_named(run.aws, name)
    if not ids:
        return None
    if len(ids) > 1:
        raise RestoreError(f"{len(ids)} pools named {name} exist already ({', '.join(ids)}): refusing to create "
                           f"another. If one is a restore that stopped, finish it with: {resume_command(run, 'ID')} "
                           "(ID: that pool's id); else choose another --new-pool-name")
    target = check_target(run, ids[0], by_name=name)
    run.state.pool_id = run.state.same_name_pool = ids[0]
    if not run.options.dry_run:  # a dry run says so in its plan
        run.say(f"an empty pool named {name} exists already ({ids[0]}; an earlier run that stopped as it created "
                f"it?): restoring into it. If this run stops, finish it with: {resume_command(run)}")
    return target


def check_target(run: RestoreRun, pool_id: str, by_name: str | None = None) -> dict[str, Any]:
    """The target pool's description, once it is known to be one the restore may fill: empty (or ``--resume``),
    and signing users in as the snapshot's pool did."""
    try:
        target = run.aws.call("describe_user_pool", UserPoolId=pool_id)["UserPool"]
    except ClientError as exc:
        raise RestoreError(f"target pool {pool_id}: {error_text(exc)}") from None
    contents = []
    for what, method, key, kwargs in (
            ("users", "list_users", "Users", {"Limit": 1}),
            ("groups", "list_groups", "Groups", {"Limit": 1}),
            ("app clients", "list_user_pool_clients", "UserPoolClients", {"MaxResults": 1}),
            ("identity providers", "list_identity_providers", "Providers", {"MaxResults": 1}),
            ("resource servers", "list_resource_servers", "ResourceServers", {"MaxResults": 1})):
        if run.aws.call(method, UserPoolId=pool_id, **kwargs).get(key):
            contents.append(what)
    if contents and by_name:
        raise RestoreError(f"a pool named {by_name} exists already: {pool_id}, with {', '.join(contents)}. "
                           f"Refusing to create another. If it is a restore that stopped, finish it with: "
                           f"{resume_command(run, pool_id)}; else choose another --new-pool-name")
    if contents and not run.options.resume:
        raise RestoreError(f"target pool {pool_id} is not empty (it has {', '.join(contents)}): "
                           "refusing to restore into it. If it is a restore that stopped, add --resume to "
                           "finish it (existing items are skipped); else give an empty pool or --new-pool-name")
    wanted = sorted(run.snapshot.username_attributes or [])
    if sorted(target.get("UsernameAttributes") or []) != wanted:
        raise RestoreError(f"target pool {pool_id} signs users in with "
                           f"{target.get('UsernameAttributes') or 'usernames'}, the snapshot's pool with "
                           f"{wanted or 'usernames'}: users cannot be restored into it. Use --new-pool-name")
    run.state.target_was_empty = not contents
    run.state.target_pool = target
    return target


def resource_servers(run: RestoreRun) -> Iterator[dict[str, Any]]:
    return _listed(run, "list_resource_servers", "ResourceServers", MaxResults=50)


def identity_providers(run: RestoreRun) -> Iterator[dict[str, Any]]:
    return _listed(run, "list_identity_providers", "Providers", MaxResults=60)


def app_clients(run: RestoreRun) -> Iterator[dict[str, Any]]:
    return _listed(run, "list_user_pool_clients", "UserPoolClients", MaxResults=60)


def clients_by_name(run: RestoreRun) -> dict[str, list[str]]:
    """The target's app client ids by name (sorted: a name may be there more than once)."""
    existing: dict[str, list[str]] = {}
    for client in app_clients(run):
        existing.setdefault(client["ClientName"], []).append(client["ClientId"])
    return {name: sorted(ids) for name, ids in existing.items()}


def cimd_policies(run: RestoreRun) -> set[tuple[str, str]]:
    """(client id, policy name) of the target's CIMD policies; asked only when the snapshot has some to restore."""
    section = run.snapshot.config.get("cimd_policies") or {}
    if section.get("status") != "present" or not section.get("items"):
        return set()
    return {(p.get("ClientId"), p.get("PolicyName"))
            for p in _listed(run, "list_cimd_policies", "CIMDPolicies", MaxResults=60)}


def domain_holder(run: RestoreRun, prefix: str) -> str | None:
    """The pool that holds the domain ``prefix`` now, if any."""
    try:
        described = run.aws.call("describe_user_pool_domain", Domain=prefix).get("DomainDescription") or {}
    except ClientError:
        return None
    return described.get("UserPoolId")


def _listed(run: RestoreRun, method: str, key: str, **kwargs: Any) -> Iterator[dict[str, Any]]:
    if not run.state.pool_id:
        return iter(())
    return run.aws.paginate(method, key, UserPoolId=run.state.pool_id, **kwargs)


def listed_user_pages(run: RestoreRun, estimated_users: int | None) -> Iterator[list[dict[str, Any]]]:
    """Every user of the target pool once, in pages, listed in parallel over ranges of sub (PoolReader). The
    reader's own limiters are released at once: the restore's (calls.Calls.governed) keep ListUsers at the
    restore's share of UserList, and the reader's, on the client every lane shares, would also hold every other
    category to the snapshot's third of its quota while the listing runs."""
    reader = PoolReader(run.aws.cognito, run.state.pool_id, request_budget=QUOTA_RPS["UserList"],
                        workers=min(run.options.workers, 16))
    reader.close()
    yield from reader.iter_user_pages(estimated_users)


def load_existing(run: RestoreRun) -> set[str]:
    """What the target already holds (a resumed restore): its groups (returned), and its users and group
    memberships (into the journal)."""
    state = run.state
    groups = {g["GroupName"] for g in _listed(run, "list_groups", "Groups", Limit=60)}
    if state.target_was_empty:
        return groups
    run.say("listing what the target pool already holds (resume)")
    rows = []
    for page in listed_user_pages(run, state.target_pool.get("EstimatedNumberOfUsers")):
        for user in page:
            rows.append((user_identity(user, run.snapshot.username_attributes), user["Username"],
                         attributes_of(user).get("sub"), int(user.get("Enabled", True))))
        if len(rows) >= 5000:
            state.journal.add_existing_users(rows)
            rows.clear()
    state.journal.add_existing_users(rows)
    for group in sorted(groups):
        state.journal.add_existing_members((group, u["Username"]) for u in run.aws.paginate(
            "list_users_in_group", "Users", UserPoolId=state.pool_id, GroupName=group, Limit=60))
    run.say(f"  the target holds {state.journal.existing_user_count():,} users and {len(groups):,} groups")
    return groups
