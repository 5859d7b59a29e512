"""`braze-assets ui` starts the local services and the Dagster UI, and a stop signal stops all of it."""

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from braze_assets.settings import PROJECT_DIR
from braze_assets_tests.conftest import cli_env
from braze_assets_tests.ui.services import group_alive


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


@pytest.mark.integration
def test_ui_serves_and_a_stop_signal_stops_every_process(tmp_path):
    ui, sandbox, s3 = _free_port(), _free_port(), _free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "braze_assets.cli",
            "ui",
            "--port",
            str(ui),
            "--sandbox-port",
            str(sandbox),
            "--s3-port",
            str(s3),
        ],
        cwd=PROJECT_DIR,
        env=cli_env(tmp_path),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 150
        while not _answers(f"http://127.0.0.1:{ui}/server_info"):
            assert process.poll() is None, "braze-assets ui exited early"
            assert time.monotonic() < deadline, "the Dagster UI did not come up"
            time.sleep(1)
        assert _answers(f"http://127.0.0.1:{sandbox}/_sandbox/stats")
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) in (0, 130)
        # dagster dev runs in its own process group; it must be gone too, with the local services.
        deadline = time.monotonic() + 30
        while _answers(f"http://127.0.0.1:{ui}/server_info") or _answers(
            f"http://127.0.0.1:{sandbox}/_sandbox/stats"
        ):
            assert time.monotonic() < deadline, "something kept serving after the stop signal"
            time.sleep(1)
    finally:
        if group_alive(process.pid):
            os.killpg(process.pid, signal.SIGKILL)
