"""Groups and users, and everything that follows each user, in one pipeline (pipeline.py).

One walk through the snapshot (``snapshot_items``, shared with the dry run) decides what happens to each group
and user and records the users in the journal; the groups are created as they come (they come first), the
users with AdminCreateUser in the users lane, or written to the import files that the import jobs take as soon
as each is written (import_jobs.py). As each user arrives in the target pool (created, imported, or there
already) its memberships, its disabling and its provider identities are queued for the lanes of followups.py,
which run alongside, each at its quota category's share. ``restore_users`` returns once every lane is done.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import nullcontext
from typing import Any

from botocore.exceptions import ClientError

from cognito_backup.restore import decisions, followups, import_jobs, overrides
from cognito_backup.restore.calls import error_code, error_text
from cognito_backup.restore.decisions import ALREADY, RESTORED, UserAction, UserDecision, UserRules
from cognito_backup.restore.import_jobs import CsvChunks, csv_header
from cognito_backup.restore.pipeline import Lane, Pipeline
from cognito_backup.restore.requests import attributes_of, csv_row, federated_identities, plan_group, user_identity
from cognito_backup.restore.state import RestoreRun
from cognito_backup.restore.target import load_existing

IMPORT_FALLBACK = ("users without a verified email/phone cannot be imported: they are created with "
                   "AdminCreateUser instead")
STREAM_BATCH = 500  # snapshot items read at a time (the pipeline's other lanes are looked after in between)


def snapshot_items(run: RestoreRun, existing_groups: set[str], chunks: CsvChunks | None = None
                   ) -> Iterator[tuple[str, dict[str, Any], Any]]:
    """The snapshot's groups and users as they come: ("group", group, its action) and ("user", user, its
    UserDecision). Users go into the journal in the state their decision gives (those to import also into
    ``chunks``, the import files, when given); memberships too, all of them before the first user. Groups come
    first whatever their place in the snapshot: format 1 has them before the users, format 2 after (then the
    snapshot is walked twice: the groups, then the users)."""
    state, journal, snapshot = run.state, run.state.journal, run.snapshot
    rules = UserRules(username_attributes=snapshot.username_attributes, users_via=snapshot.users_via,
                      auto_verified=snapshot.auto_verified, link_federated=run.options.link_federated,
                      renames=snapshot.renames)
    member_rows: list[tuple[str, str]] = []
    users_after_groups = None  # None until the first of the two arrays starts
    members_done = False

    def user_item(user: dict[str, Any]) -> tuple[str, dict[str, Any], UserDecision]:
        nonlocal member_rows, members_done
        if not members_done:  # every membership is in the journal before the first user is decided
            journal.add_members(member_rows)
            member_rows = []
            journal.members_complete()
            members_done = True
        ident = user_identity(user, rules.username_attributes)
        decision = decisions.user(user, rules, journal.existing_user(ident), state.providers.restored)
        chunk = None
        if chunks is not None and decision.action is UserAction.IMPORT:
            chunk = chunks.write(csv_row(user, chunks.header, run.snapshot.username_attributes))
        _record(run, user, ident, decision, chunk)
        return "user", user, decision

    with snapshot.source.stream(if_match=snapshot.etag) as stream:
        for event in stream.events():
            if event.kind == "start" and users_after_groups is None and event.key in ("groups", "users"):
                users_after_groups = event.key == "groups"
            if event.kind != "item":
                continue
            if event.key == "groups":  # one array (verify refuses a key twice): all of it before any user
                group = event.value
                member_rows.extend((group["GroupName"], m) for m in group.get("Members", ()))
                if len(member_rows) > 5000:
                    journal.add_members(member_rows)
                    member_rows = []
                yield "group", group, decisions.group(group, existing_groups)
            elif event.key == "users" and users_after_groups:
                yield user_item(event.value)
    if users_after_groups is False:
        with snapshot.source.stream(if_match=snapshot.etag) as stream:
            for event in stream.events():
                if event.kind == "item" and event.key == "users":
                    yield user_item(event.value)
    if not members_done:
        journal.add_members(member_rows)
        journal.members_complete()


def _record(run: RestoreRun, user: dict[str, Any], ident: str, decision: UserDecision, chunk: int | None) -> None:
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
                               state=decision.action.state, chunk=chunk, **values)


class SnapshotSource:
    """The users lane's source: the snapshot read STREAM_BATCH items at a time. Groups are created as they come;
    each user is decided and journaled, and only those to create (AdminCreateUser) are handed to the lane."""

    def __init__(self, run: RestoreRun, items: Iterator[tuple[str, dict[str, Any], Any]], chunks: CsvChunks | None):
        self.run, self.items, self.chunks = run, items, chunks
        self.done = False
        self.groups = {"created": 0, "already_there": 0}
        self.users = run.board.phase("users", run.snapshot.counts.get("users"))
        self.members = run.board.phase("memberships")

    def pull(self, n: int) -> tuple[list[Any], bool]:
        out: list[Any] = []
        journal, links = self.run.state.journal, self.run.options.link_federated
        for _ in range(STREAM_BATCH):
            if self.done or len(out) >= n:
                break
            item = next(self.items, None)
            if item is None:
                self._finish()
                break
            kind, value, decision = item
            if kind == "group":
                self._group(value, decision)
            elif decision.action.progress is None:
                out.append((value, decision))
            else:
                self.users.add(decision.action.progress)
                if decision.action.state in RESTORED:  # there already: what follows it can go now
                    journal.ready(value["Username"], links=links)
                elif decision.action is not UserAction.IMPORT:  # never in the pool: nor its memberships
                    self.members.add(followups.SKIPPED, journal.member_count(value["Username"]))
        return out, True

    def _finish(self) -> None:
        self.done = True
        if self.chunks is not None:
            self.chunks.finish()
            self.run.board.phase("import jobs").total = self.chunks.total_rows
        self.run.state.steps["groups"] = self.groups

    def _group(self, group: dict[str, Any], decision: str) -> None:
        run, state = self.run, self.run.state
        if decision == ALREADY:
            self.groups["already_there"] += 1
            return
        try:
            params = overrides.group_params(run.options.overrides, group["GroupName"], plan_group(group))
            run.aws.call("create_group", UserPoolId=state.pool_id, **params)
            self.groups["created"] += 1
        except ClientError as exc:
            if error_code(exc) == "GroupExistsException":
                self.groups["already_there"] += 1
            else:
                state.fail(f"group {group['GroupName']}", exc)

    def exhausted(self) -> bool:
        return self.done


def users_lane(run: RestoreRun, source: SnapshotSource) -> Lane:
    state, journal, links = run.state, run.state.journal, run.options.link_federated

    def create(item: tuple[dict[str, Any], UserDecision], _post: Any) -> tuple[str, str | None, str]:
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
            source.users.add("failed")
            source.members.add(followups.SKIPPED, journal.member_count(username))
            return
        new_username, new_sub, outcome = result
        journal.set_user(username, new_username=new_username, new_sub=new_sub, state=outcome)
        journal.ready(username, links=links)
        source.users.add(outcome)

    return Lane("users", source, create, done, limit=run.options.workers)


def restore_users(run: RestoreRun) -> None:
    """Groups, users (AdminCreateUser or import jobs), memberships, the disabled state and (--link-federated) the
    federated identities, side by side; then what they did, for the report."""
    state, board = run.state, run.board
    importing = run.snapshot.users_via == "import"
    if importing and not state.target_was_empty:
        import_jobs.wait_for_running_jobs(run)
    existing_groups = load_existing(run)
    run.say(f"groups and users ({run.snapshot.users_via}), memberships, disabled users"
            + (", federated links" if run.options.link_federated else ""))
    chunks = CsvChunks(state, csv_header(run)) if importing else None
    source = SnapshotSource(run, snapshot_items(run, existing_groups, chunks), chunks)
    pipeline = Pipeline(board)
    users = pipeline.add(users_lane(run, source))
    upstream = [users]
    mapping = None
    if chunks is not None:
        jobs = pipeline.add(import_jobs.import_lane(run, chunks, [users]))
        mapping = pipeline.add(import_jobs.mapping_lane(run, [users, jobs]))
        upstream = [users, jobs, mapping]
    for lane in followups.lanes(run, upstream):
        pipeline.add(lane)
    try:
        with chunks if chunks is not None else nullcontext():
            pipeline.run()
    finally:
        state.steps.setdefault("groups", source.groups)
        state.steps["users"] = dict(source.users.counts)
        state.lanes = {lane.name: {"busy_s": round(lane.busy_s, 3), "busy_done": lane.busy_done,
                                   "limit": lane.limit} for lane in pipeline.lanes}
    if mapping is not None and mapping.finished_items:
        state.steps["users"]["imported"] = state.journal.count("imported")
    followups.record_steps(run)

