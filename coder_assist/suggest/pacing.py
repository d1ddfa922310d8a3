"""Client-side pacing of concurrent model calls: a window of requests in flight that shrinks on a
429 and grows back, and requests-per-minute / tokens-per-minute budgets over a sliding minute.

One :class:`Pacer` is shared by every worker of a run. A worker calls :meth:`Pacer.wait_turn`
right before each HTTP attempt (retries included, so the budgets count real requests), then
:meth:`Pacer.succeeded` or :meth:`Pacer.throttled`. The run keeps at most :attr:`Pacer.window`
calls in flight. On a 429 the window halves (at least 1) and every worker waits out the
``Retry-After`` together; after ``recover`` successes in a row it grows by one, up to the
configured concurrency (additive increase, multiplicative decrease).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

MINUTE = 60.0


class Pacer:
    """Shared pacing state for one run's workers (thread-safe)."""

    def __init__(self, concurrency: int = 4, rpm: int = 0, tpm: int = 0, recover: int = 8,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> None:  # fmt: skip
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.concurrency, self.rpm, self.tpm, self.recover = concurrency, rpm, tpm, recover
        self.window = concurrency
        """How many calls may be in flight now."""
        self.throttles = 0
        """429s seen in this run."""
        self.lowest = concurrency
        """The smallest window this run came down to."""
        self._clock, self._sleep = clock, sleep
        self._lock = threading.Lock()
        self._sent: deque[tuple[float, int]] = deque()  # (time, tokens) of requests in the last minute
        self._pause_until = 0.0
        self._streak = 0

    def _delay(self, tokens: int, now: float) -> float:
        """Seconds to wait before a request of ``tokens`` may go (0: now). Caller holds the lock."""
        while self._sent and self._sent[0][0] <= now - MINUTE:
            self._sent.popleft()
        wait = max(0.0, self._pause_until - now)
        if self.rpm and len(self._sent) >= self.rpm:
            wait = max(wait, self._sent[len(self._sent) - self.rpm][0] + MINUTE - now)
        if self.tpm and self._sent:
            used, need = sum(t for _, t in self._sent), min(tokens, self.tpm)
            for at, t in self._sent:  # the oldest requests leave the minute first
                if used + need <= self.tpm:
                    break
                used -= t
                wait = max(wait, at + MINUTE - now)
        return wait

    def wait_turn(self, tokens: int = 0) -> float:
        """Block until a request of about ``tokens`` prompt tokens fits the budgets; record it.
        Returns the seconds waited."""
        waited = 0.0
        while True:
            with self._lock:
                now = self._clock()
                delay = self._delay(tokens, now)
                if delay <= 0:
                    self._sent.append((now, tokens))
                    return waited
            self._sleep(delay)
            waited += delay

    def throttled(self, retry_after: float | None = None) -> None:
        """A 429: halve the window and, with ``retry_after``, pause every worker that long."""
        with self._lock:
            self.throttles += 1
            self._streak = 0
            self.window = max(1, self.window // 2)
            self.lowest = min(self.lowest, self.window)
            if retry_after:
                self._pause_until = max(self._pause_until, self._clock() + retry_after)

    def succeeded(self) -> None:
        """A call came back: after ``recover`` in a row, allow one more in flight."""
        with self._lock:
            self._streak += 1
            if self._streak >= self.recover and self.window < self.concurrency:
                self.window += 1
                self._streak = 0
