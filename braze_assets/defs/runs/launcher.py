"""Dagster's default run launcher, plus a health check for run monitoring.

The default launcher starts each run in a subprocess of the code server, and only that code server
notices the subprocess dying. When the code server dies too (the daemon or `dagster dev` killed
with its process group, a container restart) or the run never went through a launcher
(`dagster asset materialize`, `dg launch`, `braze-assets demo`), nothing marks the run failed and
its `duckdb_warehouse` pool slot stays taken. With `run_monitoring` enabled in dagster.yaml the
monitoring daemon asks this launcher about every STARTED run; a run whose recorded process
(braze_assets.run_owner) is gone is reported FAILED, the daemon marks the run failed with that
reason, and frees its pool slots after `free_slots_after_run_end_seconds`.
"""

from __future__ import annotations

from dagster._core.launcher import CheckRunHealthResult, DefaultRunLauncher, WorkerStatus

from braze_assets.run_owner import describe_owner, owner_is_gone


class MonitoredRunLauncher(DefaultRunLauncher):
    @property
    def supports_check_run_worker_health(self) -> bool:
        return True

    def check_run_worker_health(self, run) -> CheckRunHealthResult:
        if owner_is_gone(run.tags):
            return CheckRunHealthResult(
                WorkerStatus.FAILED,
                f"the process executing this run ({describe_owner(run.tags)}) is gone "
                "(killed or crashed); braze_assets marks it failed so its pool slots are freed",
            )
        # Alive, on another host, or a run started before runs recorded their process: the
        # monitoring daemon must not fail a run it cannot judge.
        return CheckRunHealthResult(WorkerStatus.RUNNING)
