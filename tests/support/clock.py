"""A clock for tests of code that waits: reading it gives the time, sleeping advances it at once."""

from __future__ import annotations


class FakeClock:
    """``clock()`` is the time now; ``clock.sleep(s)`` moves it on by ``s`` seconds without waiting."""

    def __init__(self, now: float = 0.0):
        self.now = now

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds
