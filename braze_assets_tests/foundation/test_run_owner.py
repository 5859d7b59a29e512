"""Telling a run whose process is gone from a live one, on a real Dagster instance: the launcher's
health check (what the run monitoring daemon asks), the demo's own recovery, and runs that recorded
no process (from before runs were tagged), which are left alone and named as such."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import dagster as dg
import pytest
from dagster._core.launcher import WorkerStatus

from braze_assets.cli.runs import SlotWatch, recover_dead_runs
from braze_assets.defs.runs.launcher import MonitoredRunLauncher
from braze_assets.run_owner import PID_TAG, START_TAG, owner_tags


def _tags_of_a_finished_process() -> dict[str, str]:
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "import json; from braze_assets.run_owner import owner_tags; "
            "print(json.dumps(owner_tags()))",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return json.loads(out)


@pytest.fixture
def instance(tmp_path):
    with dg.DagsterInstance.from_config(str(tmp_path)) as instance:
        yield instance


def _started(instance, tags) -> dg.DagsterRun:
    run = dg.DagsterRun(job_name="some_job", status=dg.DagsterRunStatus.STARTED, tags=tags)
    instance.add_run(run)
    return run


def test_health_check_fails_only_runs_whose_recorded_process_is_gone(instance):
    launcher = MonitoredRunLauncher()
    dead = _started(instance, _tags_of_a_finished_process())
    alive = _started(instance, owner_tags())
    untagged = _started(instance, {})
    # This process's pid with another start time: the pid was reused by an unrelated process.
    reused = _started(instance, {**owner_tags(), START_TAG: "1"})

    result = launcher.check_run_worker_health(dead)
    assert result.status == WorkerStatus.FAILED
    assert f"pid {dead.tags[PID_TAG]} on" in result.msg and "is gone" in result.msg
    assert launcher.check_run_worker_health(reused).status == WorkerStatus.FAILED
    assert launcher.check_run_worker_health(alive).status == WorkerStatus.RUNNING
    assert launcher.check_run_worker_health(untagged).status == WorkerStatus.RUNNING
    assert launcher.supports_check_run_worker_health


def test_demo_recovery_fails_dead_runs_frees_their_slots_and_leaves_untagged_ones(instance):
    dead = _started(instance, _tags_of_a_finished_process())
    untagged = _started(instance, {})
    storage = instance.event_log_storage
    storage.set_concurrency_slots("duckdb_warehouse", 1)
    assert storage.claim_concurrency_slot("duckdb_warehouse", dead.run_id, "step").is_claimed

    said: list[str] = []
    assert recover_dead_runs(instance, say=said.append) == [dead.run_id]
    assert instance.get_run_by_id(dead.run_id).status == dg.DagsterRunStatus.FAILURE
    assert instance.get_run_by_id(untagged.run_id).status == dg.DagsterRunStatus.STARTED
    assert storage.get_concurrency_info("duckdb_warehouse").claimed_slots == []
    assert "marked failed" in said[0] and dead.tags[PID_TAG] in said[0]


def test_a_wait_on_an_untagged_run_says_it_cannot_be_judged(instance):
    untagged = _started(instance, {})
    watch = SlotWatch(instance, "some_job", 60, say=lambda _line: None)
    described = watch._describe(untagged.run_id)
    assert "no recorded process" in described and "terminate it in the Dagster UI" in described
    assert f"pid {os.getpid()}" in watch._describe(_started(instance, owner_tags()).run_id)
