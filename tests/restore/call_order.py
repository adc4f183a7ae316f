"""Properties of the sequence of calls AWS carried out during a restore (or a restore and its resume)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

USER_WRITES = ("AdminCreateUser", "AdminAddUserToGroup", "AdminDisableUser", "AdminEnableUser",
               "AdminLinkProviderForUser", "StartUserImportJob")


def assert_no_window_for_disabled_users(calls: Iterable[tuple[str, dict[str, Any]]], disabled: set[str],
                                        imported: dict[str, list[str]] | None = None) -> None:
    """Replays ``calls`` (operation, parameters) in order: at no moment is there an app client (what lets a user
    sign in or reset a password) while a user of ``disabled`` (disabled in the snapshot) exists enabled.
    ``imported``: the usernames each import job (by id) creates, enabled, when it starts."""
    enabled: set[str] = set()
    clients = 0
    for i, (operation, params) in enumerate(calls):
        if operation == "StartUserImportJob":
            enabled |= set((imported or {})[params["JobId"]])
        if operation in ("AdminCreateUser", "AdminEnableUser"):
            enabled.add(params["Username"])
        elif operation == "AdminDisableUser":
            enabled.discard(params["Username"])
        elif operation == "CreateUserPoolClient":
            clients += 1
        window = enabled & disabled
        assert not (clients and window), (f"call {i} ({operation}): an app client exists while {sorted(window)} "
                                          "(disabled in the snapshot) are enabled")


def assert_triggers_attached_last(calls: list[tuple[str, dict[str, Any]]]) -> None:
    """The pool was created without triggers, and they were attached after the last user write."""
    creates = [p for op, p in calls if op == "CreateUserPool"]
    assert creates and all("LambdaConfig" not in p for p in creates)
    attached = [i for i, (op, p) in enumerate(calls) if op == "UpdateUserPool" and p.get("LambdaConfig")]
    last_user_write = max(i for i, (op, _) in enumerate(calls) if op in USER_WRITES)
    assert attached and attached[0] > last_user_write, "the triggers were attached before the last user write"


def assert_overlapped(calls: list[tuple[str, dict[str, Any]]], follower: str, leader: str) -> None:
    """A ``follower`` call (a membership) came before the last ``leader`` call (a user created): the two went on
    side by side."""
    first = next((i for i, (op, _) in enumerate(calls) if op == follower), None)
    last = max((i for i, (op, _) in enumerate(calls) if op == leader), default=None)
    assert first is not None and last is not None, f"no {follower} or no {leader}"
    assert first < last, f"every {follower} came after the last {leader}: they did not overlap"
