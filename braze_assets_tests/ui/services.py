"""Processes the UI tests start: dagster-webserver in its own process group, stopped by group id."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

from braze_assets.settings import PROJECT_DIR

WEBSERVER_START_TIMEOUT_S = 120


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_webserver(env: dict[str, str], log_path: Path) -> tuple[subprocess.Popen, str]:
    """dagster-webserver on loopback; returns the process and its base URL once /server_info answers."""
    port = free_port()
    webserver = Path(sys.executable).with_name("dagster-webserver")
    log = log_path.open("wb")
    # Its own session, so teardown reaches the webserver and the code server it spawns together.
    process = subprocess.Popen(
        [
            str(webserver),
            "-w",
            str(PROJECT_DIR / "workspace.yaml"),
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
        ],
        cwd=PROJECT_DIR,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    log.close()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + WEBSERVER_START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"dagster-webserver exited with {process.returncode}:\n{log_path.read_text(errors='replace')[-4000:]}"
            )
        try:
            if requests.get(f"{url}/server_info", timeout=2).ok:
                return process, url
        except requests.RequestException:
            pass
        time.sleep(0.5)
    stop_process_group(process)
    raise RuntimeError(
        f"dagster-webserver did not answer on {url} within {WEBSERVER_START_TIMEOUT_S}s:\n"
        f"{log_path.read_text(errors='replace')[-4000:]}"
    )


def group_alive(pgid: int) -> bool:
    """Whether any process of the group is still there."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def stop_process_group(process: subprocess.Popen, grace_s: float = 15) -> None:
    """SIGTERM the whole group, then SIGKILL whatever of it (e.g. the code server) is still there."""
    if not group_alive(process.pid):
        process.wait()
        return
    os.killpg(process.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline:
        process.poll()
        if process.returncode is not None and not group_alive(process.pid):
            return
        time.sleep(0.2)
    if group_alive(process.pid):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=10)
