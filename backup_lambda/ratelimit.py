"""A thread-safe token-bucket rate limiter, shared by every worker that calls one quota category.

Cognito's quotas are per account and per category (UserList: 30 calls/s for ListUsers and
ListUsersInGroup together). The backup keeps under a *budget* (default 15 calls/s, half the quota),
and slows down further when AWS throttles it anyway (the application is busy): ``on_throttle()``
halves the rate, which then recovers step by step as calls succeed (AIMD).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class RateLimiter:
    def __init__(
        self,
        rate: float,
        burst: float | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        min_rate: float = 0.5,
    ):
        if not rate > 0:
            raise ValueError(f"rate must be > 0 calls/s, got {rate!r}")
        self.max_rate = float(rate)
        self.rate = float(rate)
        self.min_rate = min(min_rate, self.max_rate)
        # A burst of 1 keeps calls evenly spaced: never more than `rate` calls in any one second.
        self.burst = float(burst) if burst is not None else 1.0
        self._tokens = self.burst
        self._clock = clock
        self._sleep = sleep
        self._last = clock()
        self._lock = threading.Lock()
        self.calls = 0
        self.throttles = 0
        self.waited = 0.0

    def acquire(self) -> None:
        """Block until one call may be made."""
        while True:
            with self._lock:
                now = self._clock()
                self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
                self._last = now
                if self._tokens >= 1.0:
                    self._tokens -= 1.0
                    self.calls += 1
                    return
                wait = (1.0 - self._tokens) / self.rate
            self.waited += wait
            self._sleep(wait)

    def on_throttle(self) -> None:
        """AWS said TooManyRequests: someone else is using the quota. Halve our rate."""
        with self._lock:
            self.throttles += 1
            self.rate = max(self.min_rate, self.rate / 2)
            self._tokens = min(self._tokens, 0.0)

    def on_success(self) -> None:
        """Recover towards the budget: +5% of the budget per successful call."""
        if self.rate < self.max_rate:
            with self._lock:
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


def govern(client, limiter_for: Callable[[str], RateLimiter | None]) -> Callable[[], None]:
    """Make every HTTP attempt of ``client`` wait for its operation's limiter.

    ``limiter_for(operation_name)`` returns the limiter of that operation's quota category (or None
    for no limit). The wait is per attempt (``before-send``), because AWS counts retries against
    the quota too; a throttled answer halves the limiter's rate (``needs-retry``). Returns a
    function that removes the hooks again.
    """
    service_id = client.meta.service_model.service_id.hyphenize()
    events = client.meta.events

    def before_send(event_name: str, **kwargs):
        limiter = limiter_for(event_name.rsplit(".", 1)[-1])
        if limiter is not None:
            limiter.acquire()

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
