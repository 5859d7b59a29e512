"""The project's executor: Dagster's default (multiprocess, or in process by config) that first
tags the run with the process executing it (braze_assets.run_owner).

It runs inside the run worker whatever started the run: the UI, a schedule, a sensor,
`dagster job launch`, `dagster asset materialize` or `dg launch`. So the run monitoring daemon
(braze_assets.defs.runs.launcher) and `braze-assets demo` can tell that the run's process is gone.
"""

from __future__ import annotations

from collections.abc import Iterator

import dagster as dg
from dagster._core.executor.base import Executor

from braze_assets.run_owner import owner_tags


class OwnerTaggingExecutor(Executor):
    def __init__(self, inner: Executor):
        self._inner = inner

    def execute(self, plan_context, execution_plan) -> Iterator[dg.DagsterEvent]:
        plan_context.instance.add_run_tags(plan_context.run_id, owner_tags())
        yield from self._inner.execute(plan_context, execution_plan)

    @property
    def retries(self):
        return self._inner.retries

    @property
    def step_dependency_config(self):
        return self._inner.step_dependency_config

    def get_step_event_or_retry_event(self, *args, **kwargs):
        return self._inner.get_step_event_or_retry_event(*args, **kwargs)


_default = dg.multi_or_in_process_executor


@dg.executor(
    name="braze_assets_executor",
    config_schema=_default.config_schema,
    requirements=_default.get_requirements,
)
def owner_tagging_executor(init_context) -> Executor:
    """Dagster's default executor (multiprocess unless `in_process` is configured) that records the
    run worker's pid and host in the run's tags."""
    return OwnerTaggingExecutor(_default.executor_creation_fn(init_context))
