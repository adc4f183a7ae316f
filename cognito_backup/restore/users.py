"""Groups and users: groups created as the snapshot is read, users classified as they come (already in the
target, federated, to import, to create) and created with AdminCreateUser in parallel; then the group
memberships, the disabled state, and (--link-federated) the federated users' provider identities linked to
their new native users."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from botocore.exceptions import ClientError

from cognito_backup.restore.calls import Progress, error_code, error_text, run_parallel
from cognito_backup.restore.import_jobs import CsvChunks, csv_header
from cognito_backup.restore.requests import (
    admin_create_params,
    attributes_of,
    csv_row,
    federated_identities,
    import_eligible,
    is_federated,
    plan_group,
    user_identity,
)
from cognito_backup.restore.state import RestoreRun
from cognito_backup.restore.target import load_existing

RESTORED = ("created", "existed", "imported")  # the states of users that are in the target pool


# -- groups and users ---------------------------------------------------------------------------------------

def restore_groups_and_users(run: RestoreRun) -> None:
    state, journal = run.state, run.state.journal
    existing_groups = load_existing(run)
    groups = {"created": 0, "already_there": 0}
    users = Progress(run.say, "users", run.snapshot.counts["users"])
    header = csv_header(run) if run.snapshot.users_via == "import" else []
    run.say(f"groups and users ({run.snapshot.users_via})")

    def user_items(chunks: CsvChunks) -> Iterator[dict[str, Any]]:
        member_rows: list[tuple[str, str]] = []
        with run.snapshot.source.stream(if_match=run.snapshot.etag) as stream:
            for event in stream.events():
                if event.kind != "item":
                    continue
                if event.key == "groups":
                    group = event.value
                    member_rows.extend((group["GroupName"], m) for m in group.get("Members", ()))
                    if len(member_rows) > 5000:
                        journal.add_members(member_rows)
                        member_rows = []
                    if group["GroupName"] in existing_groups:
                        groups["already_there"] += 1
                        continue
                    try:
                        run.aws.call("create_group", UserPoolId=state.pool_id, **plan_group(group))
                        groups["created"] += 1
                    except ClientError as exc:
                        if error_code(exc) == "GroupExistsException":
                            groups["already_there"] += 1
                        else:
                            state.fail(f"group {group['GroupName']}", exc)
                elif event.key == "users":
                    user = classify_user(run, event.value, chunks, users)
                    if user is not None:
                        yield user
        journal.add_members(member_rows)

    def create(user: dict[str, Any]) -> tuple[str, str | None, str]:
        params, _ = admin_create_params(user, run.snapshot.username_attributes)
        try:
            new = run.aws.call("admin_create_user", UserPoolId=state.pool_id, **params)["User"]
            return new["Username"], attributes_of(new).get("sub"), "created"
        except ClientError as exc:
            if error_code(exc) != "UsernameExistsException":
                raise
            got = run.aws.call("admin_get_user", UserPoolId=state.pool_id, Username=params["Username"])
            return got["Username"], attributes_of({"Attributes": got.get("UserAttributes")}).get("sub"), "existed"

    def done(user: dict[str, Any], result: Any, error: BaseException | None) -> None:
        if error is not None:
            state.fail(f"user {user['Username']}", error)
            journal.set_user(user["Username"], state="failed", detail=error_text(error))
            users.add("failed")
            return
        new_username, new_sub, outcome = result
        journal.set_user(user["Username"], new_username=new_username, new_sub=new_sub, state=outcome)
        users.add(outcome)

    with CsvChunks(state, header) as chunks:
        run_parallel(user_items(chunks), create, run.options.workers, done)
    users.show(final=True)
    state.steps["groups"] = groups
    state.steps["users"] = dict(users.counts)


def classify_user(run: RestoreRun, user: dict[str, Any], chunks: CsvChunks, users: Progress) -> dict[str, Any] | None:
    """Record a snapshot user in the journal; return it if it is to be created with AdminCreateUser now."""
    journal, username_attributes = run.state.journal, run.snapshot.username_attributes
    ident = user_identity(user, username_attributes)
    identities = federated_identities(user)

    def record(state: str, **values: Any) -> None:
        journal.add_user(user["Username"], attributes_of(user).get("sub"), ident,
                         enabled=user.get("Enabled", True) is not False, identities=identities, state=state, **values)

    existing = journal.existing_user(ident)
    if existing:
        record("existed", new_username=existing[0], new_sub=existing[1])
        users.add("already there")
        return None
    if is_federated(user):
        if not run.options.link_federated:
            record("federated", detail="federated user: not recreated")
            users.add("federated (listed)")
            return None
        if not any(i["providerName"] in run.state.providers.restored for i in identities):
            record("federated", detail="its provider was not restored: not recreated")
            users.add("federated (provider not restored)")
            return None
    params, reason = admin_create_params(user, username_attributes)
    if params is None:  # by design, as a provider without its secret: a resume would not do better
        record("skipped", detail=reason)
        users.add("skipped (no usable username)")
        return None
    if is_federated(user):
        record("pending")
        return user
    if run.snapshot.users_via == "import":
        if import_eligible(user, run.snapshot.auto_verified):
            chunks.write(csv_row(user, chunks.header, username_attributes))
            record("importing", new_username=params["Username"])
            users.add("queued for import")
            return None
        run.state.note("users without a verified email/phone cannot be imported: they are created "
                       "with AdminCreateUser instead")
    record("pending")
    return user


# -- memberships, disabled state, federated links -----------------------------------------------------------

def add_memberships(run: RestoreRun) -> None:
    state = run.state

    def todo() -> Iterator[tuple[str, str, str]]:
        for group, old_username, new_username, user_state, already in state.journal.memberships():
            if user_state in RESTORED and not already:
                yield group, old_username, new_username

    total = sum(1 for _ in todo())
    skipped = sum(1 for _ in state.journal.memberships()) - total
    progress = Progress(run.say, "memberships", total)

    def add(row: tuple[str, str, str]) -> None:
        run.aws.call("admin_add_user_to_group", UserPoolId=state.pool_id, GroupName=row[0], Username=row[2])

    def done(row: tuple[str, str, str], _result: Any, error: BaseException | None) -> None:
        if error is not None:
            state.fail(f"membership of {row[1]} in {row[0]}", error)
            progress.add("failed")
        else:
            progress.add("added")

    run_parallel(todo(), add, run.options.workers, done)
    progress.show(final=True)
    state.steps["memberships"] = {**progress.counts, "skipped (already there or user not restored)": skipped}


def disable_users(run: RestoreRun) -> None:
    state = run.state
    progress = Progress(run.say, "disabling users", None)

    def todo() -> Iterator[tuple[str, str]]:
        for old_username, new_username, user_state, enabled_in_target in state.journal.disabled_users():
            if user_state in RESTORED and enabled_in_target is not False:
                yield old_username, new_username

    def disable(row: tuple[str, str]) -> None:
        run.aws.call("admin_disable_user", UserPoolId=state.pool_id, Username=row[1])

    def done(row: tuple[str, str], _result: Any, error: BaseException | None) -> None:
        if error is not None:
            state.fail(f"disabling {row[0]}", error)
            progress.add("failed")
        else:
            progress.add("disabled")

    run_parallel(todo(), disable, run.options.workers, done)
    if progress.counts:
        progress.show(final=True)
    state.steps["disabled"] = dict(progress.counts)


def link_federated(run: RestoreRun) -> None:
    state = run.state
    progress = Progress(run.say, "linking federated identities", None)

    def links() -> Iterator[tuple[str, str, dict[str, Any]]]:
        for old_username, new_username, user_state, identities in state.journal.users_with_identities():
            if user_state not in RESTORED:
                continue
            for identity in identities:
                if identity["providerName"] in state.providers.restored:
                    yield old_username, new_username, identity
                else:
                    progress.add("provider not restored")

    def link(item: tuple[str, str, dict[str, Any]]) -> None:
        link_provider(run.aws.linker, state.pool_id, item[1], item[2])

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
