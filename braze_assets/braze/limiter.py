"""Client-side fixed-window request limiter, shared by every thread and client in a process.

Braze counts requests in fixed windows that reset on the clock, so the limiter uses the same
epoch-aligned windows. A request admitted in the last ``guard_s`` of a window may reach Braze
after the boundary, so it is charged to the next window as well; that costs throughput only when
the client runs just under the limit, and keeps network delay from pushing a window over it.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Callable


class FixedWindowLimiter:
    def __init__(
        self,
        limit: int,
        period_s: float,
        *,
        guard_s: float | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if limit < 1 or period_s <= 0:
            raise ValueError(
                f"rate limit must be >= 1 request per > 0 s, got {limit} per {period_s} s"
            )
        self.limit = int(limit)
        self.period_s = float(period_s)
        self.guard_s = min(0.1, self.period_s / 20) if guard_s is None else float(guard_s)
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._counts: dict[int, int] = {}
        self._paused_until = 0.0

    def __repr__(self) -> str:
        return f"FixedWindowLimiter({self.limit} per {self.period_s:g} s)"

    def acquire(self, cancel: threading.Event | None = None) -> float:
        """Block until a request may be sent; return the seconds spent waiting.

        A wait ends early when ``cancel`` is set (the run was interrupted or failed): a 429's
        Retry-After can hold every thread for minutes, and an interrupt must not wait that out.
        The caller then checks why it woke before sending anything.
        """
        waited = 0.0
        while True:
            with self._lock:
                now = self._clock()
                wait = self._try_admit(now)
            if wait <= 0:
                return waited
            if cancel is None:
                self._sleep(wait)
            elif cancel.wait(wait):
                return waited
            waited += wait

    def _try_admit(self, now: float) -> float:
        if now < self._paused_until:
            return self._paused_until - now
        window = int(now // self.period_s)
        counts = self._counts
        used = counts.get(window, 0)
        window_end = (window + 1) * self.period_s
        in_guard = now >= window_end - self.guard_s
        if used >= self.limit or (in_guard and counts.get(window + 1, 0) >= self.limit):
            return max(window_end - now, 1e-4) + (self.period_s if used < self.limit else 0.0)
        counts[window] = used + 1
        if in_guard:
            counts[window + 1] = counts.get(window + 1, 0) + 1
        if len(counts) > 4:
            for old in [w for w in counts if w < window]:
                del counts[old]
        return 0.0

    def pause_until(self, epoch_s: float) -> None:
        """Hold every thread until ``epoch_s`` (after a 429 or an exhausted server window)."""
        with self._lock:
            self._paused_until = max(self._paused_until, epoch_s)

    def observe(self, remaining: int | None, reset_epoch_s: float | None) -> None:
        """Follow the server's own count: when it says the window is spent, wait for its reset."""
        if remaining is not None and remaining <= 0 and reset_epoch_s is not None:
            self.pause_until(reset_epoch_s)

    def tighten(self, limit: int, period_s: float) -> None:
        with self._lock:
            if limit / period_s < self.limit / self.period_s:
                if float(period_s) != self.period_s:
                    self._counts.clear()  # window numbers mean something else now
                self.limit, self.period_s = int(limit), float(period_s)
                self.guard_s = min(0.1, self.period_s / 20)


_registry: weakref.WeakValueDictionary[tuple[str, str], FixedWindowLimiter] = (
    weakref.WeakValueDictionary()
)
_registry_lock = threading.Lock()


def shared_limiter(endpoint: str, route: str, limit: int, period_s: float) -> FixedWindowLimiter:
    """The process-wide limiter for ``route`` on ``endpoint``; the strictest configured rate wins.

    Held weakly: it lives while some client uses it, so every client of one endpoint in a
    process (threads, several assets of one run) draws from the same budget.
    """
    key = (endpoint.rstrip("/"), route)
    with _registry_lock:
        limiter = _registry.get(key)
        if limiter is None:
            limiter = FixedWindowLimiter(limit, period_s)
            _registry[key] = limiter
        else:
            limiter.tighten(limit, period_s)
        return limiter
