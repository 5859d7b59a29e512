"""Which process executes a run, and whether that process is gone.

A run whose executing process is killed (SIGKILL, OOM, a lost terminal, a supervisor stopping
`dagster dev` with its whole process group) stays STARTED in the instance's storage and keeps its
`duckdb_warehouse` pool slot, so every later warehouse step waits for it forever. Every run records
the process that executes it in its tags (the demo when it starts a run, the project's executor
for every other run), so the demo and Dagster's run monitoring daemon can tell a dead run from a
slow one without guessing.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from pathlib import Path

PID_TAG = "braze_assets/cli_pid"
HOST_TAG = "braze_assets/cli_host"
# The pid's start time in clock ticks since boot (Linux), so a reused pid is not taken for the
# dead run's process.
START_TAG = "braze_assets/cli_pid_start"


def process_start(pid: int) -> str | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # Field 22; the command name (field 2) may hold spaces, so split after its closing paren.
    return stat.rsplit(")", 1)[1].split()[19]


def owner_tags() -> dict[str, str]:
    """Tags naming this process as the one executing a run."""
    tags = {PID_TAG: str(os.getpid()), HOST_TAG: socket.gethostname()}
    start = process_start(os.getpid())
    if start is not None:
        tags[START_TAG] = start
    return tags


def owner_is_gone(tags: Mapping[str, str]) -> bool | None:
    """True when the run's process is dead, False when alive, None when unknown (no owner tags,
    or the owner runs on another host)."""
    if PID_TAG not in tags or tags.get(HOST_TAG) != socket.gethostname():
        return None
    pid = int(tags[PID_TAG])
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    recorded = tags.get(START_TAG)
    return recorded is not None and process_start(pid) not in (None, recorded)


def describe_owner(tags: Mapping[str, str]) -> str:
    return f"pid {tags[PID_TAG]} on {tags[HOST_TAG]}" if PID_TAG in tags else "no recorded process"
