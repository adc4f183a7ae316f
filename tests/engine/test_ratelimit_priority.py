"""Priority in the rate limiter: latency-bound chains of calls go first, without starving the others or
raising the rate. Decisions are checked on a fake clock or by the order of grants, never by timing."""

from __future__ import annotations

import threading

import pytest

from backup_lambda.ratelimit import PRIORITY_RUN, RateLimiter, calls_have_priority, priority_calls
from tests.support.clock import FakeClock


def test_a_priority_caller_takes_the_next_slot_early_but_never_adds_one():
    clock = FakeClock()
    limiter = RateLimiter(10, clock=clock, sleep=clock.sleep)
    limiter.acquire()  # t=0; the next slot is due at 0.1

    limiter.acquire(priority=True)
    assert clock.now == 0.0, "a lone priority call waits for no slot"
    limiter.acquire(priority=True)
    assert clock.now == pytest.approx(0.1), "only one interval early: the second waits for its slot"

    times = []
    for i in range(300):
        limiter.acquire(priority=i % 3 == 0)
        times.append(clock.now)
    assert times[-1] - times[0] == pytest.approx(299 / 10, rel=0.02), "the rate is the rate"
    for i in range(len(times) - 12):  # a one-second window: the rate, plus the early slot at most
        assert times[i + 12] - times[i] >= 1.0 - 1e-9


def test_a_priority_caller_goes_before_normal_callers_already_waiting():
    clock = FakeClock()
    release = threading.Event()
    sleeping = threading.Event()

    def blocking_sleep(seconds):
        sleeping.set()
        release.wait(10)
        clock.now += seconds

    limiter = RateLimiter(1, clock=clock, sleep=blocking_sleep)
    limiter.acquire()  # t=0: the next slot is at t=1
    served = []
    normal = threading.Thread(target=lambda: (limiter.acquire(), served.append("normal")))
    normal.start()
    assert sleeping.wait(10), "the normal caller waits for its slot"

    limiter.acquire(priority=True)  # takes the slot at t=1, early: no wait
    served.append("priority")
    release.set()
    normal.join(10)

    assert served == ["priority", "normal"]
    assert limiter.priority_calls == 1 and limiter.calls == 3


class RecordingLimiter(RateLimiter):
    """Records each grant, and whether a normal caller other than the granted one was waiting."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.log: list[tuple[bool, bool]] = []

    def _granted(self, priority):
        others_waiting = len(self._waiting[False]) > (0 if priority else 1)
        self.log.append((priority, others_waiting))
        super()._granted(priority)


def test_normal_callers_keep_a_share_while_priority_callers_keep_coming():
    limiter = RecordingLimiter(2000)
    stop = threading.Event()

    def caller(priority):
        while not stop.is_set():
            limiter.acquire(priority=priority)

    threads = [threading.Thread(target=caller, args=(p,)) for p in (True, False, False, False, False)]
    for t in threads:
        t.start()
    while len(limiter.log) < 3000:
        threading.Event().wait(0.01)
    stop.set()
    for t in threads:
        t.join(10)

    log = limiter.log[:3000]
    run = 0
    for priority, normal_waiting in log:
        run = run + 1 if priority and normal_waiting else 0
        assert run <= PRIORITY_RUN, "priority calls ran on while normal callers waited"
    assert sum(1 for p, _ in log if not p) >= len(log) // 4, "normal callers starved"
    assert sum(1 for p, _ in log if p) >= len(log) // 2, "the one priority caller did not go first (in turn: 1 in 5)"


def test_priority_calls_mark_only_this_thread_and_only_inside_the_block():
    seen = {}
    with priority_calls():
        seen["inside"] = calls_have_priority()
        other = threading.Thread(target=lambda: seen.setdefault("other thread", calls_have_priority()))
        other.start()
        other.join()
    seen["after"] = calls_have_priority()

    assert seen == {"inside": True, "other thread": False, "after": False}


def test_a_caller_waiting_for_its_slot_gives_up_when_its_run_hands_over():
    from backup_lambda.ratelimit import Stopped

    limiter = RateLimiter(0.5)  # one call every two seconds
    limiter.acquire()
    abandon = threading.Event()
    outcome = []

    def waiter():
        try:
            limiter.acquire(abandon=abandon)
            outcome.append("called")
        except Stopped:
            outcome.append("stopped")

    thread = threading.Thread(target=waiter)
    thread.start()
    abandon.set()
    thread.join(10)

    assert outcome == ["stopped"] and limiter.calls == 1
