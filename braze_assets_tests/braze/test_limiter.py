import threading

import pytest

from braze_assets.braze.limiter import FixedWindowLimiter, shared_limiter


class FakeClock:
    def __init__(self, start: float = 1000.0):
        self.now = start
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_fixed_window_admits_limit_then_waits_for_the_clock_boundary():
    clock = FakeClock(1000.2)
    limiter = FixedWindowLimiter(3, 1.0, guard_s=0.0, clock=clock, sleep=clock.sleep)
    sent = []
    for _ in range(7):
        limiter.acquire()
        sent.append(clock.now)
    windows = [int(t // 1.0) for t in sent]
    assert windows == [1000, 1000, 1000, 1001, 1001, 1001, 1002]
    assert sent[3] == pytest.approx(1001.0)


def test_request_near_the_boundary_is_charged_to_both_windows():
    clock = FakeClock(1000.95)
    limiter = FixedWindowLimiter(2, 1.0, guard_s=0.1, clock=clock, sleep=clock.sleep)
    limiter.acquire()  # in the guard band: counts for 1000 and 1001
    clock.now = 1001.0
    limiter.acquire()
    assert clock.sleeps == []
    limiter.acquire()  # 1001 already has two: waits for 1002
    assert int(clock.now) == 1002


def test_pause_and_observe_hold_every_caller():
    clock = FakeClock(1000.0)
    limiter = FixedWindowLimiter(100, 1.0, clock=clock, sleep=clock.sleep)
    limiter.observe(0, 1003.0)
    waited = limiter.acquire()
    assert waited == pytest.approx(3.0) and clock.now >= 1003.0
    limiter.observe(5, 2000.0)  # remaining > 0: no pause
    assert limiter.acquire() == 0


class RecordingLimiter(FixedWindowLimiter):
    """Records the clock reading at each admission (taken under the limiter's lock)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.admitted: list[float] = []

    def _try_admit(self, now):
        wait = super()._try_admit(now)
        if wait <= 0:
            self.admitted.append(now)
        return wait


def test_threads_never_exceed_the_window():
    limiter = RecordingLimiter(25, 0.2, guard_s=0.0)

    def work():
        for _ in range(15):
            limiter.acquire()

    threads = [threading.Thread(target=work) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    per_window: dict[int, int] = {}
    for stamp in limiter.admitted:
        per_window[int(stamp // 0.2)] = per_window.get(int(stamp // 0.2), 0) + 1
    assert len(limiter.admitted) == 90 and max(per_window.values()) <= 25
    assert len(per_window) >= 4


def test_shared_limiter_is_per_endpoint_and_strictest_rate_wins():
    a = shared_limiter("http://x:1/", "/users/track", 3000, 3.0)
    b = shared_limiter("http://x:1", "/users/track", 1500, 3.0)
    c = shared_limiter("http://y:1", "/users/track", 3000, 3.0)
    assert a is b and a.limit == 1500
    assert c is not a and c.limit == 3000


def test_invalid_limits():
    with pytest.raises(ValueError):
        FixedWindowLimiter(0, 1.0)
