"""What follows once a user is in the target pool: its group memberships (AdminAddUserToGroup), its disabled
state (AdminDisableUser) and, with --link-federated, its provider identities linked to it
(AdminLinkProviderForUser). Each is a lane of the pipeline (pipeline.py), fed by the journal's queues as users
arrive (created, imported, there already), so that memberships are added while later users are still being
created or imported, and a user disabled in the snapshot is disabled as soon as it exists. Each row is decided
with the decisions the dry run shows; ``*_decisions`` give them for the whole snapshot at once (for the plan).

No app client exists until these lanes are done (configuration.restore_clients comes after the pipeline), so a
user disabled in the snapshot is never enabled while a client exists.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

from cognito_backup.restore import decisions
from cognito_backup.restore.pipeline import Lane
from cognito_backup.restore.progress import Phase
from cognito_backup.restore.state import RestoreRun

PAGE = 256  # queue rows read at once
RETRIED = ("pending", "failed", "importing")  # states of users a resume creates
SKIPPED = "skipped (already there or user not restored)"

Decide = Callable[[tuple], Iterator[tuple[str, Any]]]


class QueueSource:
    """One of the journal's queues, a page at a time: each row decided, the items to carry out returned, the
    others counted in ``phase`` (``counted``: under which name; None: not at all)."""

    def __init__(self, fetch: Callable[[int, int], list[tuple]], decide: Decide, go: str, phase: Phase,
                 counted: Callable[[str], str | None]):
        self.fetch, self.decide, self.go, self.phase, self.counted = fetch, decide, go, phase, counted
        self.after = 0

    def pull(self, n: int) -> tuple[list[Any], bool]:
        rows = self.fetch(self.after, max(n, PAGE))
        if not rows:
            return [], False
        self.after = rows[-1][0]
        items = []
        for row in rows:
            for action, item in self.decide(row[1:]):
                if action == self.go:
                    items.append(item)
                elif self.counted(action):
                    self.phase.add(self.counted(action))  # type: ignore[arg-type]
        return items, True

    def exhausted(self) -> bool:
        return not self.fetch(self.after, 1)


def _membership(row: tuple) -> Iterator[tuple[str, tuple[str, str, str | None]]]:
    group, old_username, new_username, user_state, already = row
    yield decisions.membership(user_state, bool(already)), (group, old_username, new_username)


def _disabled(row: tuple) -> Iterator[tuple[str, tuple[str, str | None]]]:
    old_username, new_username, user_state, enabled = row
    yield decisions.disabled_user(user_state, None if enabled is None else bool(enabled)), (old_username,
                                                                                             new_username)


def _links(run: RestoreRun) -> Decide:
    def decide(row: tuple) -> Iterator[tuple[str, tuple[str, str | None, dict[str, Any]]]]:
        old_username, new_username, user_state, identities = row
        for identity in json.loads(identities):
            action = decisions.identity_link(user_state, identity["providerName"], run.state.providers.restored)
            if action is not None:
                yield action, (old_username, new_username, identity)
    return decide


def lanes(run: RestoreRun, after: list[Lane]) -> list[Lane]:
    """The memberships, disabling and (--link-federated) linking lanes; ``after``: the lanes that bring users in."""
    state, journal, board, workers = run.state, run.state.journal, run.board, run.options.workers
    members = board.phase("memberships", run.snapshot.counts.get("memberships"))
    disabling = board.phase("disabling", run.snapshot.counts.get("disabled_users"))

    def add(row: tuple[str, str, str], _post: Any) -> None:
        run.aws.call("admin_add_user_to_group", UserPoolId=state.pool_id, GroupName=row[0], Username=row[2])

    def added(row: tuple[str, str, str], _result: Any, error: BaseException | None) -> None:
        if error is not None:
            state.fail(f"membership of {row[1]} in {row[0]}", error)
        members.add("failed" if error is not None else "added")

    def disable(row: tuple[str, str], _post: Any) -> None:
        run.aws.call("admin_disable_user", UserPoolId=state.pool_id, Username=row[1])

    def disabled(row: tuple[str, str], _result: Any, error: BaseException | None) -> None:
        if error is not None:
            state.fail(f"disabling {row[0]}", error)
        disabling.add("failed" if error is not None else "disabled")

    out = [Lane("memberships", QueueSource(journal.queued_memberships, _membership, "add", members,
                                           lambda _a: SKIPPED), add, added, limit=workers, after=after),
           Lane("disabling", QueueSource(journal.queued_disables, _disabled, "disable", disabling,
                                         lambda _a: "skipped"), disable, disabled, limit=workers, after=after)]
    if run.options.link_federated:
        out.append(_link_lane(run, after))
    return out


def _link_lane(run: RestoreRun, after: list[Lane]) -> Lane:
    state = run.state
    linking = run.board.phase("federated links")
    names = run.snapshot.provider_names

    def link(item: tuple[str, str, dict[str, Any]], _post: Any) -> None:
        identity = {**item[2], "providerName": names.get(item[2]["providerName"], item[2]["providerName"])}
        link_provider(run.aws.linker, state.pool_id, item[1], identity)

    def linked(item: tuple[str, str, dict[str, Any]], _result: Any, error: BaseException | None) -> None:
        if error is not None and "already linked" in str(error).lower():
            linking.add("already linked")
        elif error is not None:
            state.fail(f"linking the {item[2]['providerName']} identity of {item[0]}", error)
            linking.add("failed")
        else:
            state.journal.set_user(item[0], state="linked")
            linking.add("linked")

    return Lane("federated links", QueueSource(state.journal.queued_links, _links(run), "link", linking,
                                               lambda action: "provider not restored" if action.startswith("skip")
                                               else None), link, linked, limit=run.options.workers, after=after)


def record_steps(run: RestoreRun) -> None:
    """What the lanes did, for the report; and whether a user disabled in the snapshot is still enabled."""
    state, board = run.state, run.board
    members = board.phase("memberships").counts
    done = {k: members[k] for k in ("added", "failed") if members.get(k)}
    state.steps["memberships"] = {"added": 0, **done,
                                  SKIPPED: state.journal.member_total() - sum(done.values())}
    disabling = board.phase("disabling").counts
    state.steps["disabled"] = {k: disabling[k] for k in ("disabled", "failed") if disabling.get(k)}
    if run.options.link_federated:
        state.steps["federated_links"] = dict(board.phase("federated links").counts)
    # Not disabled yet: a failed disable, or a user whose creation failed (a resume creates it, enabled).
    state.disabled_pending = disabling.get("failed", 0) + state.journal.count_disabled(RETRIED)
    if state.disabled_pending:
        run.say(f"  {state.disabled_pending} user(s) disabled in the snapshot are not disabled in the new pool: "
                "no app client is created until they are (--resume)")


# -- the same decisions for the whole snapshot at once (the dry run) ---------------------------------------------

def membership_decisions(run: RestoreRun) -> Iterator[tuple[str, tuple[str, str, str | None]]]:
    """Every snapshot membership: (its action, (group, old username, new username))."""
    for group, old_username, new_username, user_state, already in run.state.journal.memberships():
        yield decisions.membership(user_state, already), (group, old_username, new_username)


def disabled_decisions(run: RestoreRun) -> Iterator[tuple[str, tuple[str, str | None]]]:
    """Every user disabled in the snapshot: (its action, (old username, new username))."""
    for old_username, new_username, user_state, enabled_in_target in run.state.journal.disabled_users():
        yield decisions.disabled_user(user_state, enabled_in_target), (old_username, new_username)


def link_decisions(run: RestoreRun) -> Iterator[tuple[str, tuple[str, str | None, dict[str, Any]]]]:
    """Every provider identity of a restored user: (its action, (old username, new username, identity))."""
    for old_username, new_username, user_state, identities in run.state.journal.users_with_identities():
        for identity in identities:
            action = decisions.identity_link(user_state, identity["providerName"], run.state.providers.restored)
            if action is not None:
                yield action, (old_username, new_username, identity)


def link_provider(cognito: Any, pool_id: str, native_username: str, identity: dict[str, Any]) -> None:
    """Link a provider identity (``{"providerName", "userId"}`` from ``identities``) to a native user."""
    cognito.admin_link_provider_for_user(
        UserPoolId=pool_id,
        DestinationUser={"ProviderName": "Cognito", "ProviderAttributeValue": native_username},
        SourceUser={"ProviderName": identity["providerName"], "ProviderAttributeName": "Cognito_Subject",
                    "ProviderAttributeValue": identity["userId"]},
    )

