"""`braze-assets demo` against faults a user meets, over real local servers and processes:

1. a Braze endpoint that accepts connections and never answers (BRAZE_TIMEOUT_S small): the demo
   ends with one line and exit 2, nothing counts as delivered, `braze-assets status` shows the
   failed run with its reason and every row pending;
2. then two demos started at once in that data dir against the real (local) sandbox: the second
   waits for the first instead of sharing its sandbox state, the first delivers what was pending,
   each summary counts only its own sync, and the sandbox holds exactly what was confirmed.
"""

import re
import socket
import subprocess
import threading

import duckdb
import pytest

from braze_assets.sandbox import SandboxServer
from braze_assets_tests.conftest import cli_env, run_cli, start_cli

# Kill and fault scenarios over whole runs take minutes: outside the default run (`./run test -m slow`).
pytestmark = pytest.mark.slow

PEOPLE = 300
KEY = "k-never-answering-endpoint-test"


class Silent:
    """Accepts every connection and never answers: a hung proxy or a black-holed load balancer."""

    def __init__(self):
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.accepted: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)

    def _accept(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted.append(conn)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self.sock.close()
        for conn in self.accepted:
            conn.close()


def _number(text: str, label: str) -> int:
    match = re.search(rf"{re.escape(label)}:?\s+([\d,]+)", text)
    assert match, f"{label!r} not in:\n{text}"
    return int(match.group(1).replace(",", ""))


def _warehouse(data_dir, sql):
    with duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True) as con:
        return con.execute(sql).fetchall()


def _start_demo(env):
    return start_cli("demo", env=env, stderr=subprocess.PIPE, start_new_session=False)


def test_silent_endpoint_then_two_demos_at_once(tmp_path):
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    env = cli_env(data_dir)

    with Silent() as silent:
        hung = run_cli(
            "demo",
            "--people",
            str(PEOPLE),
            env=cli_env(
                data_dir,
                BRAZE_REST_ENDPOINT=silent.url,
                BRAZE_API_KEY=KEY,
                BRAZE_TIMEOUT_S="1",
                BRAZE_RETRY_BUDGET_S="2",
            ),
            timeout=400,
        )
        assert silent.accepted, "the demo never reached the sync"
    assert hung.returncode == 2, hung.stdout + hung.stderr
    assert "Traceback" not in hung.stderr
    assert re.search(
        r"braze-assets: braze_daily_sync \[[\d-]+\]: .*delivered nothing.*timed out", hung.stderr
    )
    assert KEY not in hung.stdout + hung.stderr
    assert _warehouse(data_dir, "SELECT count(*) FROM braze_confirmed_state") == [(0,)]

    status = run_cli("status", env=env)
    assert status.returncode == 0, status.stderr
    assert re.search(
        r"FAILURE\s+braze_daily_sync \[[\d-]+\]\n\s+reason: step braze_sync_results__braze failed: sync of 'braze' delivered nothing",
        status.stdout,
    ), status.stdout
    pending = _number(status.stdout, "failed (sent, not delivered)")
    assert pending > 0
    assert re.search(
        rf"{pending:,} profiles \([\d,]+ values\) not confirmed by Braze", status.stdout
    )

    # Two demos at once, against the local sandbox: the second starts while the first runs.
    first = _start_demo(env)
    try:
        for line in first.stdout:
            if "running" in line:
                break
        second = _start_demo(env)
        first_out, first_err = first.communicate(timeout=400)
        second_out, second_err = second.communicate(timeout=400)
    finally:
        for process in (first, locals().get("second")):
            if process is not None and process.poll() is None:
                process.kill()
                process.wait()
    assert first.returncode == 0, first_out + first_err
    assert second.returncode == 0, second_out + second_err
    assert "another `braze-assets demo` is running" in second_out
    # The first delivered what the silent endpoint left pending; the second found nothing to send,
    # and its summary says so instead of counting the first one's sync.
    updated = _number(first_out, "Braze profiles updated")
    assert updated > 0
    assert _number(second_out, "Braze profiles updated") == 0
    assert _number(second_out, "data points spent") == 0

    status = run_cli("status", env=env)
    assert re.search(r" 0 profiles \(0 values\) not confirmed", status.stdout), status.stdout
    # Neither demo overwrote the other's sandbox state: Braze holds what the warehouse confirmed.
    delivered = dict(
        _warehouse(
            data_dir,
            "SELECT identifier, sum(data_points) FROM braze_sync_results WHERE status = 'delivered' GROUP BY 1",
        )
    )
    # The demo's second act merges one profile away and deletes one; events are billed apart.
    gone = {
        row[0]
        for row in _warehouse(
            data_dir,
            "SELECT merge_identifier FROM braze_profile_merges WHERE status = 'merged' "
            "UNION SELECT identifier FROM braze_profile_deletions WHERE status = 'deleted'",
        )
    }
    with SandboxServer(data_dir / "braze_sandbox") as sandbox:
        profiles = {p["external_id"] for p in sandbox.profiles()}
        points = sum(
            n
            for name, n in sandbox.data_points()["by_attribute"].items()
            if not name.startswith(("event:", "purchase:"))
        )
    assert set(delivered) - gone <= profiles and len(delivered) == updated
    assert sum(delivered.values()) == points
