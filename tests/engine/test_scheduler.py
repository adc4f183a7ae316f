"""One scheduler for all the reading: the configuration, ListGroups, every group's member chain and the
user ranges run at the same time, member chains first in the UserList limiter; nothing waits for
another phase to end. Checked by holding one call until others have been made (never by timing)."""

from __future__ import annotations

import threading

import pytest

from backup_lambda.pool_reader import PoolReader
from backup_lambda.snapshot import take_snapshot
from demo.sample_pool import build_pool
from tests.engine.test_snapshot import NOW
from tests.support.fault_injection import CallRecorder, capture_readers, fast_retries_and_limits


@pytest.fixture
def pool(cognito, monkeypatch):
    fast_retries_and_limits(monkeypatch)
    monkeypatch.setattr("backup_lambda.pool_reader.PAGE", 5)
    return build_pool(cognito, "together", users=90, unconfirmed=0, big_group_members=30, extra_groups=8,
                      with_config=False)


class HoldUntil:
    """Hold the ``nth`` ``operation`` call until ``others`` calls of ``other`` have been made (at most 20 s)."""

    def __init__(self, cognito, operation: str, other: str, others: int, *, nth: int = 1):
        self.other, self.others, self.nth = other, others, nth
        self.count = self.calls = 0
        self.reached = threading.Event()
        self.held = None
        self._lock = threading.Lock()
        service = cognito.meta.service_model.service_id.hyphenize()
        cognito.meta.events.register_first(f"before-call.{service}.{operation}", self._hold)
        cognito.meta.events.register_first(f"before-call.{service}.{other}", self._count)

    def _count(self, **kwargs):
        with self._lock:
            self.count += 1
            if self.count >= self.others:
                self.reached.set()

    def _hold(self, **kwargs):
        with self._lock:
            self.calls += 1
            if self.calls != self.nth:
                return
        self.held = self.reached.wait(20)


@pytest.mark.parametrize(("held", "while_made"), [
    ("GetUserPoolMfaConfig", "ListUsers"),  # the configuration does not delay the first user
    ("ListUsersInGroup", "ListUsers"),  # nor do the groups' members
    ("ListUsers", "ListUsersInGroup"),  # nor do the users the members
])
def test_the_phases_run_at_the_same_time(cognito, s3, bucket, pool, held, while_made):
    hold = HoldUntil(cognito, held, while_made, 3)

    result = take_snapshot(cognito, s3, user_pool_id=pool.pool_id, bucket=bucket, now=NOW, request_budget=30)

    assert hold.held is True, f"{held} waited for {while_made} in vain: the phases ran one after the other"
    assert result.users == len(pool.users) and result.memberships == sum(map(len, pool.groups.values()))


def test_member_chains_start_as_their_groups_are_listed(cognito, s3, bucket, pool):
    """The second ListGroups page waits until a member chain of the first page's groups has begun."""
    hold = HoldUntil(cognito, "ListGroups", "ListUsersInGroup", 1, nth=2)

    take_snapshot(cognito, s3, user_pool_id=pool.pool_id, bucket=bucket, now=NOW, request_budget=30)

    assert hold.held is True, "no member chain began before ListGroups was drained"


def test_member_chains_go_first_in_the_user_list_limiter(cognito, s3, bucket, pool, monkeypatch):
    readers = capture_readers(monkeypatch)
    recorder = CallRecorder()
    recorder.attach(cognito)

    take_snapshot(cognito, s3, user_pool_id=pool.pool_id, bucket=bucket, now=NOW, request_budget=30)

    limiter = readers[0].limiters["UserList"]
    assert limiter.priority_calls == recorder.count("cognito-idp", "ListUsersInGroup") > 6
    assert limiter.calls - limiter.priority_calls == recorder.count("cognito-idp", "ListUsers")


def test_member_pages_are_cut_to_usernames_before_botocore_parses_them(cognito, pool):
    lean = PoolReader(cognito, pool.pool_id, usernames_only_in_groups=True)
    try:
        page = lean.list_members_page("everyone", None)
    finally:
        lean.close()
    full = PoolReader(cognito, pool.pool_id).list_members_page("everyone", None)

    assert [u["Username"] for u in page["Users"]] == [u["Username"] for u in full["Users"]]
    assert all(set(u) == {"Username"} for u in page["Users"]) and page["NextToken"] == full["NextToken"]
    assert all("Attributes" in u and "UserCreateDate" in u for u in full["Users"]), "only the lean reader cuts"
