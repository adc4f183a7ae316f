"""Every chain of calls a snapshot makes, run at once, the UserList ones on the one budget.

A snapshot reads the pool as chains of paginated calls: the 16 (or 256) user ranges (ListUsers with
``sub ^= "<prefix>"``), ListGroups, and one ListUsersInGroup chain per group; plus the configuration
sections. Each needs the token of its previous page, so a chain is as fast as its round trips; the
budget (``REQUEST_BUDGET``, UserList calls per second) is only reached by running many chains at once.
Here they all run together, in threads:
- range workers (``workers``), each draining one range after the other;
- member workers (as many), each draining one group's member chain after the other, fed by ListGroups
  as groups arrive. Their calls go first in the UserList limiter (``ratelimit.priority_calls``): a
  chain of 1,667 pages (a group of 100,000) takes 1,667 round trips however large the budget, so it
  must never wait behind the range workers; the ranges, 16 chains of equal length, absorb the rest of
  the budget and end together;
- one ListGroups chain and one configuration reader, each on its own category's limiter.

Nothing here writes. Every page comes back to the caller (the run's main thread) as an event, in the
order each chain read it; the caller applies it (writes users, spools members) and so always knows
exactly where each chain stands: that is what a checkpoint saves. ``stop()`` makes every thread finish
the call it is making (its page still comes back) and start no other; a thread's last event is
``Exited``. A call with a token that Cognito refuses (expired: tokens live about an hour) starts its
chain again from the beginning, announced by ``Restarted`` (the caller discards what that chain read,
or skips the users already written, and bounds the restarts).
"""

from __future__ import annotations

import logging
import queue
import threading
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from backup_lambda.checkpoint import DONE, MAX_RESTARTS, SEQUENTIAL
from backup_lambda.errors import SnapshotError
from backup_lambda.pool_reader import PoolReader, Stopped, error_code, keep_users, token_refused
from backup_lambda.ratelimit import priority_calls
from backup_lambda.subs import SeenSubs

logger = logging.getLogger(__name__)

EVENT_QUEUE = 64  # pages waiting for the main thread at most (memory: 64 pages of 60 users)


@dataclass(frozen=True)
class UsersPage:
    prefix: str  # the range ("*": the one unfiltered scan)
    users: list[dict[str, Any]]
    token: str | None  # the range's next token (None: the range is drained)


@dataclass(frozen=True)
class Sequential:
    """The range filter was refused: the users are listed in one unfiltered scan instead."""


@dataclass(frozen=True)
class GroupsPage:
    groups: list[dict[str, Any]]
    token: str | None


@dataclass(frozen=True)
class MembersPage:
    group: int
    names: list[str]
    token: str | None


@dataclass(frozen=True)
class Restarted:
    """A chain's token was refused; it starts again from its first page."""

    chain: str  # "range", "members" or "groups"
    key: Any  # the range's prefix, the group's index, or None


@dataclass(frozen=True)
class SectionRead:
    name: str
    section: dict[str, Any]


@dataclass(frozen=True)
class Failed:
    error: BaseException


@dataclass(frozen=True)
class Exited:
    thread: str


@dataclass
class Work:
    """What is left to read. ``ranges``: (prefix, token) not drained, in order; ``probe``: a fresh
    listing whose first call also tells whether the range filter works; ``groups_token``: ListGroups'
    next token (DONE: all listed); ``chains``: (group index, name, token) whose members are not all
    read, chains in progress first; ``config``: reads the configuration sections not read yet, calling
    its argument with each (None: all read)."""

    ranges: list[tuple[str, str | None]]
    probe: bool = False
    groups_token: str | None = DONE
    chains: list[tuple[int, str, str | None]] | None = None
    config: Callable[[Callable[[str, dict[str, Any]], None]], None] | None = None


class Scheduler:
    def __init__(self, reader: PoolReader, work: Work, *, workers: int):
        self.reader = reader
        self.work = work
        self.workers = max(1, workers)
        self.events: queue.Queue = queue.Queue(maxsize=EVENT_QUEUE)
        self._closed = threading.Event()  # the main thread reads no more events
        self._stop = threading.Event()  # this scheduler's threads start no new call
        self._ranges: deque[tuple[str, str | None]] = deque(work.ranges)
        self._pending: deque[tuple[int, str, str | None]] = deque(work.chains or ())
        self._more_groups = work.groups_token != DONE
        self._cond = threading.Condition()
        self._probed = threading.Event()  # the first range call told whether the filter works
        if not work.probe:
            self._probed.set()
        self._threads: list[threading.Thread] = []
        self.running = 0  # threads that have not posted their Exited yet (counted by the main thread)

    # -- the main thread's side ------------------------------------------------------------------

    def start(self) -> Scheduler:
        if self.work.config is not None:
            self._spawn("config", self._config)
        if self._more_groups:
            self._spawn("list-groups", self._groups)
        if self._more_groups or self._pending:
            for i in range(self.workers):
                self._spawn(f"group-members-{i}", self._members)
        for i in range(min(self.workers, len(self._ranges))):
            self._spawn(f"list-users-{i}", self._first_range_worker if i == 0 else self._range_worker)
        return self

    def add_groups(self, groups: list[tuple[int, str]]) -> None:
        """Groups just listed (and spooled): their member chains are to be read."""
        with self._cond:
            self._pending.extend((idx, name, None) for idx, name in groups)
            self._cond.notify_all()

    def groups_listed(self) -> None:
        """ListGroups is drained: member workers may end once nothing is pending."""
        with self._cond:
            self._more_groups = False
            self._cond.notify_all()

    def next_event(self, timeout: float) -> Any:
        try:
            return self.events.get(timeout=timeout)
        except queue.Empty:
            return None

    def exited(self) -> None:
        """The main thread saw an ``Exited``."""
        self.running -= 1

    def stop(self) -> None:
        """No new call starts; the calls in flight land (their events still come)."""
        self._stop.set()
        self.reader.stopping.set()  # and the calls its threads make through the reader (configuration)
        self._probed.set()
        with self._cond:
            self._cond.notify_all()

    def close(self) -> None:
        """The main thread reads no more events: threads still running drop theirs and end."""
        self.stop()
        self._closed.set()

    def join(self, timeout: float) -> None:
        for thread in self._threads:
            thread.join(timeout)

    # -- the threads -----------------------------------------------------------------------------

    def _spawn(self, name: str, target: Callable[[], None]) -> None:
        def run() -> None:
            try:
                target()
            except Stopped:
                pass
            except BaseException as exc:  # handed to the main thread, which raises it
                self._post(Failed(exc))
            finally:
                self._post(Exited(name))

        thread = threading.Thread(target=run, name=name, daemon=True)
        self.running += 1
        self._threads.append(thread)
        thread.start()

    @property
    def _stopping(self) -> bool:
        return self._stop.is_set()

    def _post(self, event: Any) -> None:
        while not self._closed.is_set():
            try:
                self.events.put(event, timeout=0.2)
                return
            except queue.Full:
                continue

    def _config(self) -> None:
        assert self.work.config is not None
        self.work.config(lambda name, section: self._post(SectionRead(name, section)))

    def _groups(self) -> None:
        token = self.work.groups_token
        while not self._stopping:
            try:
                resp = self.reader.list_groups_page(token)
            except SnapshotError as exc:
                if token and token_refused(exc):
                    self._post(Restarted("groups", None))
                    token = None
                    continue
                raise
            token = resp.get("NextToken")
            self._post(GroupsPage(resp.get("Groups", []), token))
            if not token:
                return

    def _members(self) -> None:
        with priority_calls():
            while True:
                with self._cond:
                    while not self._pending and self._more_groups and not self._stopping:
                        self._cond.wait(0.5)
                    if self._stopping or not self._pending:
                        return
                    idx, name, token = self._pending.popleft()
                self._member_chain(idx, name, token)

    def _member_chain(self, idx: int, name: str, token: str | None) -> None:
        while not self._stopping:
            try:
                resp = self.reader.list_members_page(name, token)
            except SnapshotError as exc:
                if token and token_refused(exc):
                    self._post(Restarted("members", idx))
                    token = None
                    continue
                raise
            token = resp.get("NextToken")
            self._post(MembersPage(idx, [u["Username"] for u in resp.get("Users", ())], token))
            if not token:
                return

    def _first_range_worker(self) -> None:
        """Probe the range filter (a fresh listing) while the other range workers wait, then be one."""
        try:
            if self.work.probe and not self._stopping:
                prefix, _ = self._ranges.popleft()
                try:
                    resp = self.reader.list_users_page(f'sub ^= "{prefix}"', None)
                except SnapshotError as exc:
                    if error_code(exc) != "InvalidParameterException":
                        raise
                    logger.warning("the sub range filter was refused (%s): listing users in one scan",
                                   error_code(exc))
                    self._post(Sequential())
                    self._ranges.clear()
                    self._probed.set()
                    self._range(SEQUENTIAL, None)
                    return
                token = resp.get("PaginationToken")
                self._post(UsersPage(prefix, resp.get("Users", []), token))
                if token:
                    self._ranges.appendleft((prefix, token))
        finally:
            self._probed.set()
        self._range_worker()

    def _range_worker(self) -> None:
        self._probed.wait()
        while not self._stopping:
            try:
                prefix, token = self._ranges.popleft()
            except IndexError:
                return
            self._range(prefix, token)

    def _range(self, prefix: str, token: str | None) -> None:
        filter_ = None if prefix == SEQUENTIAL else f'sub ^= "{prefix}"'
        while not self._stopping:
            try:
                resp = self.reader.list_users_page(filter_, token)
            except SnapshotError as exc:
                if token and token_refused(exc):
                    self._post(Restarted("range", prefix))
                    token = None
                    continue
                raise
            token = resp.get("PaginationToken")
            self._post(UsersPage(prefix, resp.get("Users", []), token))
            if not token:
                return


def fresh_ranges(reader: PoolReader, estimated_users: int | None) -> list[tuple[str, str | None]]:
    return [(p, None) for p in reader.range_prefixes(estimated_users)]


def user_pages(reader: PoolReader, estimated_users: int | None) -> Iterator[list[dict[str, Any]]]:
    """Every user exactly once, in pages: the ranges alone (``PoolReader.iter_user_pages``)."""
    scheduler = Scheduler(reader, Work(fresh_ranges(reader, estimated_users), probe=True),
                          workers=reader.workers).start()
    seen, sequential = SeenSubs(), False
    restarts: dict[str, int] = {}
    try:
        while scheduler.running:
            event = scheduler.next_event(1.0)
            if isinstance(event, UsersPage):
                kept = keep_users(event.users, None if sequential else event.prefix, seen, reader.stats)
                if kept:
                    yield kept
            elif isinstance(event, Sequential):
                sequential = True
            elif isinstance(event, Restarted):
                restarts[event.key] = restarts.get(event.key, 0) + 1
                if restarts[event.key] > MAX_RESTARTS:
                    raise SnapshotError(f"the listing of user range {event.key!r} of user pool {reader.pool_id} "
                                        f"was refused its pagination token {MAX_RESTARTS + 1} times",
                                        pool=reader.pool_id, operation="ListUsers")
            elif isinstance(event, Failed):
                raise event.error
            elif isinstance(event, Exited):
                scheduler.exited()
    finally:
        scheduler.close()
        reader.stopping.clear()  # the reader serves its caller on (a restore lists groups next)
