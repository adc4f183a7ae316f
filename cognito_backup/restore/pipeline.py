"""Many kinds of calls at once, each at its own quota: the restore's pipeline.

A ``Lane`` is one kind of work (AdminCreateUser, AdminAddUserToGroup, AdminDisableUser, an import job...). It
takes its items from a ``Source`` (pulled a page at a time, so that nothing waits in memory but a page), runs
them in threads of its own (at most ``limit`` at once: enough to reach its quota category's rate at the latency
of a call), and hands each result to its ``done`` in the pipeline's thread, the caller's: the only thread that
touches the journal (SQLite). ``done`` may give other lanes work (a user created: its memberships, its
disabling), which their sources then find. A worker may also ``post`` something for the pipeline's thread to do
while it runs (an import job's progress, a page of listed users).

Every attempt of a call still waits for its quota category's limiter (calls.Calls.governed): lanes of different
categories run side by side, each at its share of its quota; lanes of one category share it.

``Pipeline.run`` returns when no lane has anything in flight or waiting and no source can give more. For each
lane it measures ``busy_s``, the time it had work waiting for a free slot (so its limiter, not its input, set
its pace), and ``busy_done``, what it finished meanwhile: their ratio is the rate it reached at its quota. Both
go by the same look: a lane full when the pipeline last looked is busy until the next look, and every call that
ends in between counts, however many of them the pipeline's thread takes in one go.
"""

from __future__ import annotations

import queue
import threading
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Protocol

from cognito_backup.restore.progress import ProgressBoard

POSTED_AT_MOST = 64  # things posted by workers (pages of users...) waiting for the pipeline's thread


class Source(Protocol):
    def pull(self, n: int) -> tuple[list[Any], bool]:
        """Up to ``n`` items ready now, and whether it moved (read or decided something, even with no item)."""

    def exhausted(self) -> bool:
        """Nothing more will ever come (asked only once the lanes it waits for are done)."""


class IterableSource:
    """A source over an iterable, read in the pipeline's thread (so it may read the journal)."""

    def __init__(self, items: Iterable[Any]):
        self._items = iter(items)
        self._done = False

    def pull(self, n: int) -> tuple[list[Any], bool]:
        out = []
        for item in self._items:
            out.append(item)
            if len(out) >= n:
                break
        else:
            self._done = True
        return out, bool(out) or self._done

    def exhausted(self) -> bool:
        return self._done


class Lane:
    """``call(item, post)`` runs in the lane's threads; ``done(item, result, error)`` in the pipeline's.
    ``after``: the lanes whose results feed this lane's source (it is finished only once they are);
    ``waits_for_upstream``: its source is asked only once they are finished."""

    def __init__(self, name: str, source: Source, call: Callable[[Any, Callable[..., None]], Any],
                 done: Callable[[Any, Any, BaseException | None], None], *, limit: int,
                 after: Iterable[Lane] = (), waits_for_upstream: bool = False):
        self.name, self.source, self.call, self.done, self.limit = name, source, call, done, max(1, limit)
        self.after = list(after)
        self.waits_for_upstream = waits_for_upstream
        self.waiting: deque[Any] = deque()
        self.in_flight = 0
        self.finished_items = 0
        self.busy_s = 0.0
        self.busy_done = 0
        self.full = False  # all its slots taken at the pipeline's last look
        self._exhausted = False
        self.executor: ThreadPoolExecutor | None = None

    def upstream_done(self) -> bool:
        return all(lane.finished() for lane in self.after)

    def finished(self) -> bool:
        if self.in_flight or self.waiting:
            return False
        if not self._exhausted and self.upstream_done() and self.source.exhausted():
            self._exhausted = True
        return self._exhausted


class Pipeline:
    def __init__(self, board: ProgressBoard):
        self.board = board
        self.lanes: list[Lane] = []
        self._events: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        self._room = threading.BoundedSemaphore(POSTED_AT_MOST)
        self._stopping = threading.Event()

    def add(self, lane: Lane) -> Lane:
        self.lanes.append(lane)
        return lane

    # -- from the workers --------------------------------------------------------------------------------
    def post(self, fn: Callable[..., None], *args: Any) -> None:
        """Have ``fn(*args)`` run in the pipeline's thread. Waits while POSTED_AT_MOST posts are waiting (a worker
        cannot outrun the pipeline); raises KeyboardInterrupt once the pipeline stops."""
        while not self._room.acquire(timeout=0.5):
            if self._stopping.is_set():
                raise KeyboardInterrupt("the restore stopped")

        def run() -> None:
            self._room.release()
            fn(*args)
        self._events.put(run)

    # -- the pipeline's thread ---------------------------------------------------------------------------
    def run(self) -> None:
        for lane in self.lanes:
            lane.executor = ThreadPoolExecutor(max_workers=lane.limit, thread_name_prefix=f"restore-{lane.name}")
        last: float | None = None
        try:
            while True:
                moved = any([self._fill(lane) for lane in self.lanes])
                for lane in self.lanes:  # a lane done: its phase is over, whatever the others still do
                    if lane.name in self.board.phases and lane.finished():
                        self.board.finish(self.board.phases[lane.name])
                if all(lane.finished() for lane in self.lanes):
                    break
                # A lane whose slots are all taken is going at its limiter's pace, until the next look.
                now = self.board.clock()
                for lane in self.lanes:
                    if lane.full and last is not None:
                        lane.busy_s += now - last
                    lane.full = lane.in_flight >= lane.limit
                last = now
                self._handle_events(0.0 if moved else min(self.board.due(), 1.0))
                self.board.tick()
        finally:
            self._stopping.set()
            for lane in self.lanes:
                if lane.executor is not None:
                    lane.executor.shutdown(wait=True, cancel_futures=True)

    def _fill(self, lane: Lane) -> bool:
        moved = False
        room = lane.limit - lane.in_flight
        if lane.waits_for_upstream and not lane.upstream_done():
            return False
        if room > len(lane.waiting) and not lane.finished():
            items, moved = lane.source.pull(max(room - len(lane.waiting), lane.limit))
            lane.waiting.extend(items)
        while lane.waiting and lane.in_flight < lane.limit:
            item = lane.waiting.popleft()
            lane.in_flight += 1
            future = lane.executor.submit(lane.call, item, self.post)  # type: ignore[union-attr]
            future.add_done_callback(lambda f, lane=lane, item=item: self._events.put(
                lambda: self._complete(lane, item, f)))
            moved = True
        return moved

    def _complete(self, lane: Lane, item: Any, future: Future) -> None:
        lane.in_flight -= 1
        lane.finished_items += 1
        if lane.full:  # full at the last look: its pace is its limiter's (busy_s counts this time too)
            lane.busy_done += 1
        if future.cancelled():
            return
        error = future.exception()
        lane.done(item, None if error else future.result(), error)

    def _handle_events(self, timeout: float) -> None:
        try:
            event = self._events.get(timeout=timeout) if timeout > 0 else self._events.get_nowait()
        except queue.Empty:
            return
        event()
        while True:  # and whatever else came meanwhile
            try:
                event = self._events.get_nowait()
            except queue.Empty:
                return
            event()
