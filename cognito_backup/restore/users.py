"""Groups and users. One walk through the snapshot (``snapshot_items``, shared with the dry run) decides what
happens to each group and user and records the users in the journal; the real run creates the groups as they
come and the users with AdminCreateUser in parallel (or queues them for an import job). Then the group
memberships, the disabled state, and (--link-federated) the federated users' provider identities linked to
their new native users, each decided row by row (``*_decisions``, shared with the dry run too)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

from botocore.exceptions import ClientError

from cognito_backup.restore import decisions, overrides
from cognito_backup.restore.calls import Progress, error_code, error_text, run_parallel
from cognito_backup.restore.decisions import ALREADY, UserAction, UserDecision, UserRules
from cognito_backup.restore.import_jobs import CsvChunks, csv_header
from cognito_backup.restore.requests import attributes_of, csv_row, federated_identities, plan_group, user_identity
from cognito_backup.restore.state import RestoreRun
from cognito_backup.restore.target import load_existing

RETRIED = ("pending", "failed", "importing")  # states of users a resume creates
IMPORT_FALLBACK = ("users without a verified email/phone cannot be imported: they are created with "
                   "AdminCreateUser instead")


# -- groups and users ---------------------------------------------------------------------------------------

def snapshot_items(run: RestoreRun, existing_groups: set[str]
                   ) -> Iterator[tuple[str, dict[str, Any], Any]]:
    """The snapshot's groups and users as they come: ("group", group, its action) and ("user", user, its
    UserDecision). Users go into the journal in the state their decision gives; memberships too. Groups come
    first whatever their place in the snapshot: format 1 has them before the users, format 2 after (then
    the snapshot is walked twice: the groups, then the users)."""
    state, journal, snapshot = run.state, run.state.journal, run.snapshot
    rules = UserRules(username_attributes=snapshot.username_attributes, users_via=snapshot.users_via,
                      auto_verified=snapshot.auto_verified, link_federated=run.options.link_federated,
                      renames=snapshot.renames)
    member_rows: list[tuple[str, str]] = []
    users_after_groups = None  # None until the first of the two arrays starts

    def user_item(user: dict[str, Any]) -> tuple[str, dict[str, Any], UserDecision]:
        ident = user_identity(user, rules.username_attributes)
        decision = decisions.user(user, rules, journal.existing_user(ident), state.providers.restored)
        _record(run, user, ident, decision)
        return "user", user, decision

    with snapshot.source.stream(if_match=snapshot.etag) as stream:
        for event in stream.events():
            if event.kind == "start" and users_after_groups is None:
                users_after_groups = event.key == "groups"
            if event.kind != "item":
                continue
            if event.key == "groups":
                group = event.value
                member_rows.extend((group["GroupName"], m) for m in group.get("Members", ()))
                if len(member_rows) > 5000:
                    journal.add_members(member_rows)
                    member_rows = []
                yield "group", group, decisions.group(group, existing_groups)
            elif event.key == "users" and users_after_groups:
                yield user_item(event.value)
    journal.add_members(member_rows)
    if users_after_groups is False:
        with snapshot.source.stream(if_match=snapshot.etag) as stream:
            for event in stream.events():
                if event.kind == "item" and event.key == "users":
                    yield user_item(event.value)


def _record(run: RestoreRun, user: dict[str, Any], ident: str, decision: UserDecision) -> None:
    values: dict[str, Any] = {}
    if decision.existing:
        values.update(new_username=decision.existing[0], new_sub=decision.existing[1])
    elif decision.action is UserAction.IMPORT:
        values["new_username"] = decision.params["Username"]
    if decision.detail:
        values["detail"] = decision.detail
    if decision.import_fallback:
        run.state.note(IMPORT_FALLBACK)
    run.state.journal.add_user(user["Username"], attributes_of(user).get("sub"), ident,
                               enabled=user.get("Enabled", True) is not False, identities=federated_identities(user),
                               state=decision.action.state, **values)


def restore_groups_and_users(run: RestoreRun) -> None:
    state, journal = run.state, run.state.journal
    existing_groups = load_existing(run)
    groups = {"created": 0, "already_there": 0}
    users = Progress(run.say, "users", run.snapshot.counts["users"])
    header = csv_header(run) if run.snapshot.users_via == "import" else []
    run.say(f"groups and users ({run.snapshot.users_via})")

    def create_group(group: dict[str, Any]) -> None:
        try:
            params = overrides.group_params(run.options.overrides, group["GroupName"], plan_group(group))
            run.aws.call("create_group", UserPoolId=state.pool_id, **params)
            groups["created"] += 1
        except ClientError as exc:
            if error_code(exc) == "GroupExistsException":
                groups["already_there"] += 1
            else:
                state.fail(f"group {group['GroupName']}", exc)

    def to_create(chunks: CsvChunks) -> Iterator[tuple[dict[str, Any], UserDecision]]:
        for kind, item, decision in snapshot_items(run, existing_groups):
            if kind == "group":
                if decision == ALREADY:
                    groups["already_there"] += 1
                else:
                    create_group(item)
                continue
            if decision.action is UserAction.IMPORT:
                chunks.write(csv_row(item, chunks.header, run.snapshot.username_attributes))
            if decision.action.progress is None:
                yield item, decision
            else:
                users.add(decision.action.progress)

    def create(item: tuple[dict[str, Any], UserDecision]) -> tuple[str, str | None, str]:
        params = item[1].params
        try:
            new = run.aws.call("admin_create_user", UserPoolId=state.pool_id, **params)["User"]
            return new["Username"], attributes_of(new).get("sub"), "created"
        except ClientError as exc:
            if error_code(exc) != "UsernameExistsException":
                raise
            got = run.aws.call("admin_get_user", UserPoolId=state.pool_id, Username=params["Username"])
            return got["Username"], attributes_of({"Attributes": got.get("UserAttributes")}).get("sub"), "existed"

    def done(item: tuple[dict[str, Any], UserDecision], result: Any, error: BaseException | None) -> None:
        username = item[0]["Username"]
        if error is not None:
            state.fail(f"user {username}", error)
            journal.set_user(username, state="failed", detail=error_text(error))
            users.add("failed")
            return
        new_username, new_sub, outcome = result
        journal.set_user(username, new_username=new_username, new_sub=new_sub, state=outcome)
        users.add(outcome)

    with CsvChunks(state, header) as chunks:
        run_parallel(to_create(chunks), create, run.options.workers, done)
    users.show(final=True)
    state.steps["groups"] = groups
    state.steps["users"] = dict(users.counts)


# -- memberships, disabled state, federated links -----------------------------------------------------------

def membership_decisions(run: RestoreRun) -> Iterator[tuple[str, tuple[str, str, str | None]]]:
    """Every snapshot membership: (its action, (group, old username, new username))."""
    for group, old_username, new_username, user_state, already in run.state.journal.memberships():
        yield decisions.membership(user_state, already), (group, old_username, new_username)


def add_memberships(run: RestoreRun) -> None:
    state = run.state
    planned = Counter(action for action, _ in membership_decisions(run))
    progress = Progress(run.say, "memberships", planned["add"])

    def add(row: tuple[str, str, str]) -> None:
        run.aws.call("admin_add_user_to_group", UserPoolId=state.pool_id, GroupName=row[0], Username=row[2])

    def done(row: tuple[str, str, str], _result: Any, error: BaseException | None) -> None:
        if error is not None:
            state.fail(f"membership of {row[1]} in {row[0]}", error)
            progress.add("failed")
        else:
            progress.add("added")

    run_parallel((row for action, row in membership_decisions(run) if action == "add"), add, run.options.workers,
                 done)
    progress.show(final=True)
    state.steps["memberships"] = {**progress.counts, "skipped (already there or user not restored)":
                                  planned.total() - planned["add"]}


def disabled_decisions(run: RestoreRun) -> Iterator[tuple[str, tuple[str, str | None]]]:
    """Every user disabled in the snapshot: (its action, (old username, new username))."""
    for old_username, new_username, user_state, enabled_in_target in run.state.journal.disabled_users():
        yield decisions.disabled_user(user_state, enabled_in_target), (old_username, new_username)


def disable_users(run: RestoreRun) -> None:
    state = run.state
    progress = Progress(run.say, "disabling users", None)

    def disable(row: tuple[str, str]) -> None:
        run.aws.call("admin_disable_user", UserPoolId=state.pool_id, Username=row[1])

    def done(row: tuple[str, str], _result: Any, error: BaseException | None) -> None:
        if error is not None:
            state.fail(f"disabling {row[0]}", error)
            progress.add("failed")
        else:
            progress.add("disabled")

    run_parallel((row for action, row in disabled_decisions(run) if action == "disable"), disable,
                 run.options.workers, done)
    if progress.counts:
        progress.show(final=True)
    state.steps["disabled"] = dict(progress.counts)
    # Not disabled yet: a failed disable, or a user whose creation failed (a resume creates it, enabled).
    state.disabled_pending = progress.counts.get("failed", 0) + state.journal.count_disabled(RETRIED)
    if state.disabled_pending:
        run.say(f"  {state.disabled_pending} user(s) disabled in the snapshot are not disabled in the new pool: "
                "no app client is created until they are (--resume)")


def link_decisions(run: RestoreRun) -> Iterator[tuple[str, tuple[str, str | None, dict[str, Any]]]]:
    """Every provider identity of a restored user: (its action, (old username, new username, identity))."""
    for old_username, new_username, user_state, identities in run.state.journal.users_with_identities():
        for identity in identities:
            action = decisions.identity_link(user_state, identity["providerName"], run.state.providers.restored)
            if action is not None:
                yield action, (old_username, new_username, identity)


def link_federated(run: RestoreRun) -> None:
    state = run.state
    progress = Progress(run.say, "linking federated identities", None)

    def links() -> Iterator[tuple[str, str, dict[str, Any]]]:
        for action, item in link_decisions(run):
            if action == "link":
                yield item
            else:
                progress.add("provider not restored")

    names = run.snapshot.provider_names

    def link(item: tuple[str, str, dict[str, Any]]) -> None:
        identity = {**item[2], "providerName": names.get(item[2]["providerName"], item[2]["providerName"])}
        link_provider(run.aws.linker, state.pool_id, item[1], identity)

    def done(item: tuple[str, str, dict[str, Any]], _result: Any, error: BaseException | None) -> None:
        if error is not None and "already linked" in str(error).lower():
            progress.add("already linked")
        elif error is not None:
            state.fail(f"linking the {item[2]['providerName']} identity of {item[0]}", error)
            progress.add("failed")
        else:
            state.journal.set_user(item[0], state="linked")
            progress.add("linked")

    run_parallel(links(), link, run.options.workers, done)
    progress.show(final=True)
    state.steps["federated_links"] = dict(progress.counts)


def link_provider(cognito: Any, pool_id: str, native_username: str, identity: dict[str, Any]) -> None:
    """Link a provider identity (``{"providerName", "userId"}`` from ``identities``) to a native user."""
    cognito.admin_link_provider_for_user(
        UserPoolId=pool_id,
        DestinationUser={"ProviderName": "Cognito", "ProviderAttributeValue": native_username},
        SourceUser={"ProviderName": identity["providerName"], "ProviderAttributeName": "Cognito_Subject",
                    "ProviderAttributeValue": identity["userId"]},
    )
