"""Runs the CLI executes in its own process: who owns them, recovery from a dead owner, and a
bounded, interruptible wait for pool slots.

A run executed in process whose process is killed (SIGKILL, OOM, a lost terminal) stays STARTED in
the instance's storage and keeps its `duckdb_warehouse` pool slot, so every later warehouse step
waits for it forever. Every run is tagged with the process that executes it (braze_assets.run_owner:
the CLI tags its runs, the project's executor every other run); before launching, runs whose
process is gone are marked failed and their slots freed through Dagster's own API, as the run
monitoring daemon does with MonitoredRunLauncher (braze_assets.defs.runs.launcher). Runs without
these tags (started before runs recorded their process) cannot be judged and are left alone; the
slot wait names the run it waits for.
"""

from __future__ import annotations

import ctypes
import threading
import time
import uuid
from collections.abc import Callable

from braze_assets import settings
from braze_assets.run_owner import (
    HOST_TAG,
    PID_TAG,
    START_TAG,
    owner_is_gone,
    owner_tags,
)

__all__ = ["HOST_TAG", "PID_TAG", "START_TAG", "owner_tags"]

LAUNCH_TAG = "braze_assets/cli_launch"

SLOT_WAIT_ENV = "BRAZE_ASSETS_SLOT_WAIT_SECONDS"
DEFAULT_SLOT_WAIT_SECONDS = 600.0
# How often the waiting run says what it waits for.
WAIT_MESSAGE_SECONDS = 10.0


def recover_dead_runs(instance, say: Callable[[str], None] = print) -> list[str]:
    """Mark failed the CLI's unfinished runs whose process is gone and free every pool slot held
    by a finished run. Returns the ids of the runs marked failed."""
    import dagster as dg

    unfinished = instance.get_runs(
        filters=dg.RunsFilter(
            statuses=[
                dg.DagsterRunStatus.QUEUED,
                dg.DagsterRunStatus.NOT_STARTED,
                dg.DagsterRunStatus.STARTING,
                dg.DagsterRunStatus.STARTED,
                dg.DagsterRunStatus.CANCELING,
            ]
        )
    )
    failed = []
    for run in unfinished:
        if not owner_is_gone(run.tags):
            continue
        message = (
            f"marked failed by braze-assets: the process that ran it (pid {run.tags[PID_TAG]} "
            f"on {run.tags[HOST_TAG]}) is gone; its pool slots are freed"
        )
        instance.report_run_failed(run, message=message)
        failed.append(run.run_id)
        say(f"  run {run.run_id[:8]} ({run.job_name}) {message}")
    storage = instance.event_log_storage
    for run_id in storage.get_concurrency_run_ids():
        run = instance.get_run_by_id(run_id)
        if run is None or run.is_finished:
            storage.free_concurrency_slots_for_run(run_id)
    return failed


class SlotWaitAborted(BaseException):
    """Raised into the main thread to end a run that waits for a pool slot.

    A BaseException, like KeyboardInterrupt, so Dagster's step error handling does not swallow it.
    """

    reason = "stopped"


class SlotWaitInterrupted(SlotWaitAborted):
    reason = "interrupted"


class SlotWaitTimedOut(SlotWaitAborted):
    reason = "timed out"


def slot_wait_seconds() -> float:
    try:
        return settings.seconds_from_env(SLOT_WAIT_ENV, DEFAULT_SLOT_WAIT_SECONDS)
    except ValueError as exc:
        from braze_assets.cli.errors import UserFacingError

        raise UserFacingError(str(exc)) from None


def _raise_in_thread(thread_id: int, error: type[BaseException]) -> None:
    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread_id), ctypes.py_object(error))


class SlotWatch:
    """Watches one in-process run from a side thread while the main thread executes it.

    Dagster's in-process executor polls for a pool slot in a loop and, while it does, only records
    SIGINT/SIGTERM (it raises them inside steps). So the watch reports what the run waits for,
    and ends the wait on an interrupt or after `limit` seconds by raising into the main thread.
    """

    def __init__(self, instance, label: str, limit: float, say: Callable[[str], None] = print):
        self.instance = instance
        self.label = label
        self.limit = limit
        self.say = say
        self.launch = uuid.uuid4().hex
        self.run_id: str | None = None
        self.waited = 0.0
        # What the watch raised into the main thread; Dagster may turn it into a failed run.
        self.stopped: type[SlotWaitAborted] | None = None
        self._stop = threading.Event()
        self._main = threading.get_ident()
        self._thread = threading.Thread(target=self._loop, name="slot-watch", daemon=True)

    def tags(self) -> dict[str, str]:
        return {**owner_tags(), LAUNCH_TAG: self.launch}

    def __enter__(self) -> SlotWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _find_run(self) -> str | None:
        import dagster as dg

        runs = self.instance.get_runs(filters=dg.RunsFilter(tags={LAUNCH_TAG: self.launch}))
        return runs[0].run_id if runs else None

    def _blocked_on(self) -> tuple[str, list[str]] | None:
        """The pool this run waits for and the runs holding its slots, or None if not waiting."""
        storage = self.instance.event_log_storage
        for key in storage.get_concurrency_keys():
            info = storage.get_concurrency_info(key)
            mine = [p for p in info.pending_steps if p.run_id == self.run_id]
            if mine and all(p.assigned_timestamp is None for p in mine):
                return key, sorted({c.run_id for c in info.claimed_slots})
        return None

    def _loop(self) -> None:
        from dagster._utils.interrupts import check_captured_interrupt

        started = None
        next_message = 0.0
        while not self._stop.wait(0.5):
            if self.run_id is None:
                self.run_id = self._find_run()
                continue
            blocked = self._blocked_on()
            if blocked is None:
                started = None
                continue
            now = time.monotonic()
            if started is None:
                started = next_message = now
            self.waited = now - started
            pool, holders = blocked
            if check_captured_interrupt():
                self.stopped = SlotWaitInterrupted
            elif self.waited >= self.limit:
                self.stopped = SlotWaitTimedOut
            if self.stopped is not None:
                _raise_in_thread(self._main, self.stopped)
                return
            if now >= next_message:
                next_message = now + WAIT_MESSAGE_SECONDS
                held_by = ", ".join(self._describe(r) for r in holders) or "no run"
                self.say(
                    f"  {self.label} waits for a `{pool}` pool slot held by {held_by} "
                    f"({self.waited:.0f} s of {self.limit:.0f} s; {SLOT_WAIT_ENV} sets the limit)"
                )

    def _describe(self, run_id: str) -> str:
        run = self.instance.get_run_by_id(run_id)
        if run is None:
            return f"run {run_id[:8]}"
        # A run from before runs recorded their process cannot be judged dead or alive here.
        owner = (
            f", pid {run.tags[PID_TAG]}"
            if PID_TAG in run.tags
            else ", no recorded process: if it is dead, terminate it in the Dagster UI"
        )
        return f"run {run_id[:8]} ({run.job_name}, {run.status.value}{owner})"

    def abandon(self, reason: str) -> None:
        """Mark this run failed and free its pool claims, after the main thread left it."""
        run_id = self.run_id or self._find_run()
        if run_id is None:
            return
        run = self.instance.get_run_by_id(run_id)
        if run is not None and not run.is_finished:
            self.instance.report_run_failed(run, message=f"braze-assets: {reason}")
        self.instance.event_log_storage.free_concurrency_slots_for_run(run_id)
