"""SIGTERM while the sync waits out a 429's Retry-After: the process stops at once and the rows
not yet accepted stay pending. One 429 pauses every worker thread (they share the rate limiter);
before the fix the other workers slept the whole Retry-After in the limiter, so the process
ignored SIGTERM for up to that long."""

from __future__ import annotations

import signal
import subprocess
import time

import pytest

from braze_assets.sandbox import DEFAULT_API_KEY, FaultConfig
from braze_assets.settings import PROJECT_DIR
from braze_assets_tests.faults.conftest import (
    confirmed,
    data_dir_with_snapshot,
    run_sync,
    sync_child_command,
)

pytestmark = pytest.mark.integration

# Within the default 300 s retry budget (a longer one is given up at once), and far longer than
# the test waits for the process to stop.
RETRY_AFTER_S = 240


def test_sigterm_during_a_retry_after_wait_stops_and_leaves_rows_pending(tmp_path, sandbox):
    n = 600
    data_dir = data_dir_with_snapshot(tmp_path, n, sandbox)
    # The first request is answered 429 with a long Retry-After; the other workers' requests
    # in flight are answered normally (slowly), then they meet the paused limiter.
    sandbox.set_faults(
        FaultConfig(next_statuses=[429], retry_after_s=RETRY_AFTER_S, latency_ms=100)
    )
    child = subprocess.Popen(
        sync_child_command(data_dir, sandbox.url, 4, 10),
        cwd=PROJECT_DIR,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        # Wait until the requests stop: every worker is then waiting on the 429.
        seen, still_since = -1, time.monotonic()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            requests = sandbox.stats()["requests"]
            if requests != seen:
                seen, still_since = requests, time.monotonic()
            elif requests >= 4 and time.monotonic() - still_since > 1.5:
                break
            time.sleep(0.1)
        assert child.poll() is None, "the sync ended before it met the 429"
        child.send_signal(signal.SIGTERM)
        try:
            _, stderr = child.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            pytest.fail(f"SIGTERM did not stop a sync waiting out a {RETRY_AFTER_S} s Retry-After")
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == 130, stderr
    accepted = sandbox.data_points_spent()
    # What Braze accepted is confirmed; the rest is pending, nothing more.
    assert 0 < len(confirmed(data_dir)) == accepted < n

    sandbox.set_faults(FaultConfig())
    report = run_sync(data_dir, sandbox.url, DEFAULT_API_KEY)
    assert report.objects_delivered == n - accepted
    assert len(confirmed(data_dir)) == n and sandbox.data_points_spent() == n
