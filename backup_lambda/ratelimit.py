"""A thread-safe rate limiter, shared by every worker that calls one quota category.

Cognito's quotas are per account and per category (UserList: 30 calls/s for ListUsers and
ListUsersInGroup together). The backup keeps under a *budget* (default 15 calls/s, half the quota),
and slows down further when AWS throttles it anyway (the application is busy): ``on_throttle()``
halves the rate, which then recovers step by step as calls succeed (AIMD).

Calls follow a schedule, one every ``1/rate`` seconds (a token bucket of ``burst`` tokens, as a
virtual-time schedule). Waiting callers are served in arrival order, and only the one whose turn it is
sleeps: the others wait for their turn. Two consequences the listing depends on:
- no drift: a caller that wakes a little late (an overslept timer, a thread waiting for the GIL)
  does not push the schedule back, so a busy limiter delivers its full rate, not a few % less;
- fairness: workers that draw from one limiter advance at the same pace, so parallel ranges of
  equal size end together instead of leaving a few stragglers (and an idle budget) at the end.

Priority: a caller may ask for its call to go first (``acquire(priority=True)``, or every call made
inside ``with priority_calls():`` on a client under ``govern``). That is for sequences of calls that
are latency-bound (a group's member list: each page needs the token of the one before), which must
not queue behind a dozen parallel workers at every call. Priority callers are served before the
others, and one of them may take the next slot up to one interval early (the schedule is unchanged on
average: the slot is taken from the schedule, never added), so a lone chain does not wait at all. But
while normal callers wait, at most ``PRIORITY_RUN`` priority calls go in a row: normal callers keep
at least a third of the rate, so they never starve (their pagination tokens live an hour).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager

# A caller late by up to this many intervals keeps its slot on the schedule (no drift: the next call
# may then follow sooner, so a one-second window can hold up to two calls more than `rate`); later
# than that, the schedule restarts from now (an idle limiter saves up no burst). One interval absorbs
# the wake-up delays of a busy machine (measured: 75 calls/s asked, 69.5 got with a quarter of an
# interval as credit on 2 loaded cores, 75.0 with one interval).
LATENESS_CREDIT = 1.0
# How early (in intervals) a priority caller may take the next slot of the schedule.
PRIORITY_EARLY = 1.0
# Priority calls in a row while normal callers wait: priority gets at most 2/3 of the rate then.
PRIORITY_RUN = 2

_local = threading.local()


class Stopped(Exception):  # noqa: N818 - a state, not a failure
    """The caller's run is handing over: no new call may start (raised instead of making it)."""


@contextmanager
def priority_calls() -> Iterator[None]:
    """Calls made by this thread inside the block acquire with priority (see ``govern``)."""
    before = getattr(_local, "priority", False)
    _local.priority = True
    try:
        yield
    finally:
        _local.priority = before


def calls_have_priority() -> bool:
    return getattr(_local, "priority", False)


class RateLimiter:
    def __init__(
        self,
        rate: float,
        burst: float | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] | None = None,
        min_rate: float = 0.5,
    ):
        if not rate > 0:
            raise ValueError(f"rate must be > 0 calls/s, got {rate!r}")
        self.max_rate = float(rate)
        self.rate = float(rate)
        self.min_rate = min(min_rate, self.max_rate)
        # A burst of 1 keeps calls evenly spaced, `rate` calls a second (two more at most: LATENESS_CREDIT).
        self.burst = float(burst) if burst is not None else 1.0
        self._clock = clock
        self._sleep = sleep  # None: wait on the condition (a priority arrival can cut the wait short)
        self._next = clock()  # when the next call is due (with a burst of 1)
        self._cond = threading.Condition(threading.Lock())
        self._waiting: dict[bool, deque[object]] = {True: deque(), False: deque()}  # by priority, in arrival order
        self._run = 0  # priority calls granted in a row while normal callers waited
        self.calls = 0
        self.priority_calls = 0
        self.throttles = 0
        self.waited = 0.0

    def acquire(self, priority: bool = False, abandon: threading.Event | None = None) -> None:
        """Block until one call may be made (see the module docstring for the order callers go in).
        ``abandon``: once it is set, a caller still waiting gives up (``Stopped``) instead of calling."""
        me = object()
        with self._cond:
            self._waiting[priority].append(me)
            if priority:
                self._cond.notify_all()  # the caller whose turn it was may not be any more
            try:
                while True:
                    if abandon is not None and abandon.is_set():
                        raise Stopped("the run is handing over: the call waiting for its slot is not made")
                    if self._turn() is not me:
                        self._cond.wait(1.0 if abandon is not None else None)
                        continue
                    now = self._clock()
                    interval = 1.0 / self.rate
                    early = self.burst - 1.0 + (PRIORITY_EARLY if priority else 0.0)
                    due = self._next - early * interval
                    if now >= due:
                        late = now - self._next
                        self._next = (self._next if late <= LATENESS_CREDIT * interval else now) + interval
                        self._granted(priority)
                        return
                    self._pause(due - now)
            finally:
                self._waiting[priority].remove(me)
                self._cond.notify_all()

    def _turn(self) -> object | None:
        """The caller the next slot goes to."""
        high, low = self._waiting[True], self._waiting[False]
        if high and not (low and self._run >= PRIORITY_RUN):
            return high[0]
        return low[0] if low else None

    def _granted(self, priority: bool) -> None:
        self.calls += 1
        if priority:
            self.priority_calls += 1
            self._run = self._run + 1 if self._waiting[False] else 0
        else:
            self._run = 0

    def _pause(self, seconds: float) -> None:
        """Wait (the lock released) until the slot is due; a priority arrival may wake us sooner."""
        started = self._clock()
        if self._sleep is None:
            self._cond.wait(seconds)
        else:
            self._cond.release()
            try:
                self._sleep(seconds)
            finally:
                self._cond.acquire()
        self.waited += max(0.0, self._clock() - started)

    def on_throttle(self) -> None:
        """AWS said TooManyRequests: someone else is using the quota. Halve our rate."""
        with self._cond:
            self.throttles += 1
            self.rate = max(self.min_rate, self.rate / 2)
            # No burst after a throttle: the next call waits at least one (new) interval.
            self._next = max(self._next, self._clock() + self.burst / self.rate)

    def on_success(self) -> None:
        """Recover towards the budget: +5% of the budget per successful call."""
        if self.rate < self.max_rate:
            with self._cond:
                self.rate = min(self.max_rate, self.rate + self.max_rate * 0.05)


class RateLimiters:
    """One limiter per quota category, created on first use."""

    def __init__(self, rates: dict[str, float], default: float = 5.0):
        self._rates = dict(rates)
        self._default = default
        self._limiters: dict[str, RateLimiter] = {}
        self._lock = threading.Lock()

    def __getitem__(self, category: str) -> RateLimiter:
        with self._lock:
            if category not in self._limiters:
                self._limiters[category] = RateLimiter(self._rates.get(category, self._default))
            return self._limiters[category]


THROTTLE_CODES = frozenset({"TooManyRequestsException", "ThrottlingException", "Throttling",
                            "SlowDown", "RequestLimitExceeded"})


def govern(client, limiter_for: Callable[[str], RateLimiter | None],
           abandon: threading.Event | None = None) -> Callable[[], None]:
    """Make every HTTP attempt of ``client`` wait for its operation's limiter.

    ``limiter_for(operation_name)`` returns the limiter of that operation's quota category (or None
    for no limit). The wait is per attempt (``before-send``), because AWS counts retries against
    the quota too; calls made inside ``priority_calls()`` wait with priority. A throttled answer
    halves the limiter's rate (``needs-retry``). Once ``abandon`` is set, an attempt still waiting for
    its slot raises ``Stopped`` (botocore does not retry it). Returns a function that removes the hooks.
    """
    service_id = client.meta.service_model.service_id.hyphenize()
    events = client.meta.events

    def before_send(event_name: str, **kwargs):
        limiter = limiter_for(event_name.rsplit(".", 1)[-1])
        if limiter is not None:
            limiter.acquire(priority=calls_have_priority(), abandon=abandon)

    def needs_retry(event_name: str, response=None, **kwargs):
        limiter = limiter_for(event_name.rsplit(".", 1)[-1])
        if limiter is None or response is None:
            return
        parsed = response[1] if isinstance(response, tuple) and len(response) > 1 else {}
        code = (parsed or {}).get("Error", {}).get("Code")
        if code in THROTTLE_CODES:
            limiter.on_throttle()
        elif code is None:
            limiter.on_success()

    events.register(f"before-send.{service_id}", before_send)
    events.register(f"needs-retry.{service_id}", needs_retry)

    def release() -> None:
        events.unregister(f"before-send.{service_id}", before_send)
        events.unregister(f"needs-retry.{service_id}", needs_retry)

    return release
