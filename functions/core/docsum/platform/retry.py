"""When to try again: time-based backoff with jitter, a circuit breaker for a model host that is
down, and the deadline of one invocation.

Retries are decided by time, never by how often SQS delivered a message: the wait grows with
how long the document has been failing, so an outage of any length up to the retry window
costs a bounded number of deliveries, and the jitter spreads the documents out so a host that
comes back is not hit by all of them at once.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from datetime import datetime, timedelta

from docsum.domain.document import utc_now

Jitter = Callable[[float, float], float]  # uniform(low, high)


def backoff_seconds(failing_for: float, base: float, cap: float) -> float:
    """The wait before the next attempt of something failing for `failing_for` seconds: about
    as long as it has been failing (so attempts thin out exponentially), at least `base`, at
    most `cap`. The caller jitters it."""
    return max(base, min(cap, failing_for))


def jittered(wait: float, jitter: Jitter = random.uniform) -> float:
    """Between half and all of `wait` ("equal jitter"): never much shorter, always spread."""
    return jitter(wait / 2, wait)


def deliveries_within(window: float, base: float, cap: float) -> int:
    """The most attempts `backoff_seconds` + `jittered` can make in `window` seconds of failure
    (every jitter at its shortest). The queue's maxReceiveCount must allow that many."""
    elapsed, attempts = 0.0, 1
    while elapsed < window:
        elapsed += max(1.0, backoff_seconds(elapsed, base, cap) / 2)
        attempts += 1
    return attempts


class CircuitBreaker:
    """Shared by every delivery one worker process handles. Once a call finds the model host
    down, the breaker opens: deliveries meanwhile are put back without calling the host (no
    probe per document). When the open period ends one delivery probes; success closes the
    breaker, another failure reopens it for longer (time-based backoff with jitter)."""

    def __init__(
        self,
        base_seconds: float,
        max_seconds: float,
        clock: Callable[[], datetime] = utc_now,
        jitter: Jitter = random.uniform,
    ) -> None:
        self._base = base_seconds
        self._max = max_seconds
        self._clock = clock
        self._jitter = jitter
        self._lock = threading.Lock()
        self._down_since: datetime | None = None
        self._open_until: datetime | None = None

    def allow(self) -> bool:
        """May this delivery call the host? After an open period, one probe is let through
        (the others wait one `base` more for its answer)."""
        with self._lock:
            now = self._clock()
            if self._open_until is None:
                return True
            if now < self._open_until:
                return False
            self._open_until = now + timedelta(seconds=max(1.0, self._base))
            return True

    def open_seconds(self) -> float:
        """How long the breaker stays open from now (0: closed)."""
        with self._lock:
            if self._open_until is None:
                return 0.0
            return max(0.0, (self._open_until - self._clock()).total_seconds())

    def host_down(self) -> None:
        with self._lock:
            now = self._clock()
            self._down_since = self._down_since or now
            failing_for = (now - self._down_since).total_seconds()
            wait = jittered(backoff_seconds(failing_for, self._base, self._max), self._jitter)
            self._open_until = now + timedelta(seconds=wait)

    def host_up(self) -> None:
        with self._lock:
            self._down_since = None
            self._open_until = None


class Deadline:
    """The end of one invocation (Lambda's remaining time), on the worker's clock.

    Every invocation must keep at least one result (a chunk summary, or the summary), or a
    document whose calls fit only about once per invocation would pause forever. So until
    something is kept (`kept_result`), a call starts while the slowest one so far could still
    finish, margin or not: the guard's retry of a first answer is part of that first result.
    After that a call starts only if the slowest one so far can still finish with
    `margin_seconds` left to store progress and release the document."""

    def __init__(
        self,
        ends_at: datetime,
        margin_seconds: float,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.ends_at = ends_at
        self._margin = margin_seconds
        self._slowest: float | None = None
        self.progressed = False
        self.clock = clock

    def remaining(self) -> float:
        return (self.ends_at - self.clock()).total_seconds()

    def allows_call(self) -> bool:
        if self._slowest is None:
            return True
        if not self.progressed:
            return self.remaining() >= self._slowest
        return self.remaining() - self._margin >= self._slowest * 1.5

    def observe(self, seconds: float) -> None:
        """An answered call took `seconds` (wall time, queueing at the host included)."""
        self._slowest = max(self._slowest or 0.0, seconds)

    def kept_result(self) -> None:
        """A result of this invocation is stored: the invocation has made progress."""
        self.progressed = True


__all__ = [
    "CircuitBreaker",
    "Deadline",
    "backoff_seconds",
    "deliveries_within",
    "jittered",
]
