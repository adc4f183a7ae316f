"""What a restore shows while it runs, and reports at the end: per phase (users, import jobs, memberships,
disabling...) what it has done of how many, its rate, and the time it has left; and the restore's time left,
that of its slowest phase.

A phase's rate is measured over its last RATE_WINDOW_S seconds, so that a phase that starts late, or slows down
when the application takes part of the quota, is estimated on what it does now; its time left is what remains
at that rate. ``ProgressBoard.tick`` shows every active phase at most every ``every`` seconds (PROGRESS_EVERY_S):
as one line for a person (``say``) and as one JSON record (``record``, the command line's ``--json``). The
clock is given (tests use a fake one): nothing here sleeps or reads the time by itself.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from typing import Any

PROGRESS_EVERY_S = 5.0
RATE_WINDOW_S = 60.0
MIN_RATE_SPAN_S = 1.0  # a rate is measured over at least this long (no estimate from the first instant)


def duration(seconds: float | None) -> str:
    """3 s, 4m05s, 2h13m, 1d04h."""
    if seconds is None:
        return "?"
    s = int(round(seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{s // 86400}d{s % 86400 // 3600:02d}h"


class Phase:
    """One phase: its outcomes so far (``counts``), of ``total`` items (None while not known), when it started
    (its first outcome or ``start()``) and ended (``finish()``)."""

    def __init__(self, name: str, clock: Callable[[], float], total: int | None = None):
        self.name, self.total = name, total
        self._clock = clock
        self.counts: dict[str, int] = {}
        self.done = 0
        self.started: float | None = None
        self.ended: float | None = None
        self._samples: deque[tuple[float, int]] = deque()  # (time, done), the last RATE_WINDOW_S seconds

    def start(self) -> None:
        if self.started is None:
            self.started = self._clock()
            self._samples.append((self.started, self.done))

    def add(self, outcome: str, n: int = 1) -> None:
        if n <= 0:
            return
        self.start()
        self.counts[outcome] = self.counts.get(outcome, 0) + n
        self.done += n
        now = self._clock()
        self._samples.append((now, self.done))
        while len(self._samples) > 2 and self._samples[1][0] <= now - RATE_WINDOW_S:
            self._samples.popleft()

    def finish(self) -> None:
        self.start()
        if self.ended is None:
            self.ended = self._clock()

    @property
    def active(self) -> bool:
        return self.started is not None and self.ended is None

    def seconds(self) -> float | None:
        if self.started is None:
            return None
        return (self.ended if self.ended is not None else self._clock()) - self.started

    def rate(self) -> float | None:
        """Items per second over the last RATE_WINDOW_S seconds (since the start while it is younger)."""
        if self.started is None:
            return None
        now = self.ended if self.ended is not None else self._clock()
        if self.ended is not None:  # a finished phase: its average
            span = now - self.started
            return self.done / span if span >= MIN_RATE_SPAN_S else None
        first_t, first_done = self._samples[0]
        for t, d in self._samples:  # the oldest sample inside the window
            if t >= now - RATE_WINDOW_S:
                first_t, first_done = t, d
                break
        span = now - first_t
        if span < MIN_RATE_SPAN_S:
            return None
        return (self.done - first_done) / span

    def left_s(self) -> float | None:
        """The time it has left at its current rate (None: its total or its rate is not known yet)."""
        if self.ended is not None:
            return 0.0
        if self.total is None:
            return None
        remaining = max(0, self.total - self.done)
        if remaining == 0:
            return 0.0
        rate = self.rate()
        return remaining / rate if rate else None

    def summary(self) -> dict[str, Any]:
        rate, seconds = self.rate(), self.seconds()
        out: dict[str, Any] = {"done": self.done, "total": self.total, "counts": dict(self.counts),
                               "seconds": None if seconds is None else round(seconds, 3),
                               "rate_per_s": None if rate is None else round(rate, 3)}
        if self.ended is None:
            left = self.left_s()
            out["left_s"] = None if left is None else round(left, 1)
        return out

    def text(self) -> str:
        of = f"/{self.total:,}" if self.total is not None else ""
        share = f" ({100 * self.done / self.total:.0f}%)" if self.total else ""
        rate = self.rate()
        parts = [f"{self.name} {self.done:,}{of}{share}"]
        if rate is not None:
            parts.append(f"{rate:,.1f}/s")
        if self.ended is not None:
            parts.append(f"done in {duration(self.seconds())}")
        else:
            left = self.left_s()
            parts.append(f"{duration(left)} left" if left is not None else "time left: measuring")
        return " ".join(parts[:1]) + (", " + ", ".join(parts[1:]) if parts[1:] else "")


class ProgressBoard:
    """The phases of one run, shown together every ``every`` seconds while any is active."""

    def __init__(self, say: Callable[[str], None], record: Callable[[dict[str, Any]], None] | None = None, *,
                 clock: Callable[[], float] = time.monotonic, every: float = PROGRESS_EVERY_S):
        self.say, self.record, self.clock, self.every = say, record, clock, every
        self.phases: dict[str, Phase] = {}
        self.started = clock()
        self._last_shown: float | None = None

    def phase(self, name: str, total: int | None = None) -> Phase:
        """The phase of that name (made on first use); ``total``, when given, is its total."""
        if name not in self.phases:
            self.phases[name] = Phase(name, self.clock, total)
        elif total is not None:
            self.phases[name].total = total
        return self.phases[name]

    def left_s(self) -> float | None:
        """The restore's time left: that of its slowest active phase (None: one of them cannot say yet)."""
        lefts = [p.left_s() for p in self.phases.values() if p.active]
        if not lefts or any(x is None for x in lefts):
            return None
        return max(lefts)  # type: ignore[type-var]

    def due(self) -> float:
        """Seconds until the next line is due (0: now)."""
        if self._last_shown is None:
            return 0.0 if any(p.active for p in self.phases.values()) else self.every
        return max(0.0, self._last_shown + self.every - self.clock())

    def tick(self, force: bool = False) -> None:
        """Show the active phases, if the last line is ``every`` seconds old (or ``force``)."""
        active = [p for p in self.phases.values() if p.active]
        if not active:
            return
        now = self.clock()
        if not force and self._last_shown is not None and now - self._last_shown < self.every:
            return
        self._last_shown = now
        left = self.left_s()
        self.say(f"  [{duration(now - self.started)}] " + " | ".join(p.text() for p in active)
                 + f" | restore: {duration(left) + ' left' if left is not None else 'time left: measuring'}")
        if self.record:
            self.record({"progress": {"elapsed_s": round(now - self.started, 1),
                                      "left_s": None if left is None else round(left, 1),
                                      "phases": {p.name: p.summary() for p in active}}})

    def finish(self, phase: Phase) -> None:
        """End ``phase`` and say so (one line, and a record); quietly if it never began (nothing to do)."""
        if phase.ended is not None:
            return
        began = phase.started is not None
        phase.finish()
        if not began:
            return
        self.say(f"  {phase.text()}")
        if self.record:
            self.record({"progress": {"elapsed_s": round(self.clock() - self.started, 1),
                                      "phases": {phase.name: phase.summary()}}})

    def summary(self) -> dict[str, Any]:
        """Every phase's numbers, for the report."""
        return {name: p.summary() for name, p in self.phases.items() if p.started is not None}
