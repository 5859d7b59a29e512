"""The order in which `braze-assets demo` runs the jobs, with the partitions each run covers."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

import dagster as dg


def _partition_keys(
    job: dg.JobDefinition, *, today: datetime, currents_dates: list[str]
) -> list[str | None]:
    partitions = job.partitions_def
    if partitions is None:
        return [None]
    if isinstance(partitions, dg.TimeWindowPartitionsDefinition):
        if job.name == "currents_ingest":
            return list(currents_dates)
        return [today.strftime(partitions.fmt)]
    return list(partitions.get_partition_keys())


def demo_plan(
    defs: dg.Definitions, today: datetime, currents_dates: list[str]
) -> Iterator[tuple[dg.JobDefinition, str | None]]:
    for name in (
        "currents_ingest",
        "customer_360_refresh",
        "campaign_audiences_refresh",
        "braze_daily_sync",
    ):
        job = defs.resolve_job_def(name)
        for key in _partition_keys(job, today=today, currents_dates=currents_dates):
            yield job, key
