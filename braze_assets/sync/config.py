"""The `sync` config section: how the change-only sync to Braze behaves per destination."""

from __future__ import annotations

import datetime as dt
import re

from pydantic import Field, field_validator

from braze_assets.lifecycle.config import LifecycleConfig, MergeMode
from braze_assets.strict import StrictModel

_CRON_FIELDS = 5
# Full cron parsing happens when Dagster builds the schedule; this catches typos at config load.
_CRON_FIELD = re.compile(r"^[0-9*/,\-A-Za-z?]+$")


class DestinationSyncConfig(StrictModel):
    """Overrides for one destination; anything unset falls back to the section defaults."""

    cron: str | None = Field(
        None, description="Cron schedule (5 fields, UTC) of this destination's sync."
    )
    data_point_budget: int | None = Field(
        None, ge=0, description="Most billable data points one run may spend for this destination."
    )
    max_objects_per_run: int | None = Field(
        None,
        ge=1,
        description="Most Braze objects (profiles) one run sends; the rest wait for the next run.",
    )
    merge_mode: MergeMode | None = Field(
        None, description="Overrides lifecycle.merge_mode for this destination."
    )

    @field_validator("cron")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        return check_cron(value) if value is not None else None


class SyncConfig(StrictModel):
    """Change-only sync: snapshots, diff tolerance, budgets, schedules and recovery."""

    snapshot_retention_days: int = Field(
        14, ge=1, description="Days of attribute_snapshots partitions kept; older days are pruned."
    )
    results_retention_days: int = Field(
        90, ge=1, description="Days of braze_sync_results rows kept; older rows are pruned."
    )
    float_tolerance: float = Field(
        1e-9,
        ge=0,
        description="Float attributes whose absolute change is at most this are not resent.",
    )
    data_point_budget: int | None = Field(
        None,
        ge=0,
        description="Default most billable data points one run may spend per destination; null means no limit.",
    )
    override_budget: bool = Field(
        False,
        description="Send even when the forecast exceeds the budget (use for a deliberate one-off).",
    )
    full_resync: bool = Field(
        False,
        description="Resend every intended value, changed or not (costs one data point per value).",
    )
    max_objects_per_run: int | None = Field(
        None,
        ge=1,
        description="Default most Braze objects one run sends; the rest wait for the next run.",
    )
    dry_run_sample_size: int = Field(
        5, ge=0, le=100, description="Sample JSON payloads shown by a dry run."
    )
    default_cron: str = Field(
        "0 6 * * *", description="Cron schedule (UTC) for destinations without their own."
    )
    partitions_start_date: dt.date = Field(
        dt.date(2026, 1, 1),
        description="First day of the daily attribute_snapshots / sync partitions.",
    )
    diff_memory_limit: str | None = Field(
        "3GB",
        pattern=r"^\d+(\.\d+)?\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)$",
        description="DuckDB memory_limit while diffing (spills beyond it); null keeps the connection's own.",
    )
    journal_fsync_interval_ms: int = Field(
        100,
        ge=0,
        description=(
            "Batch outcomes are written to the journal at once (safe against a killed process) and "
            "fsync'd at most this often (0 = every batch), bounding what a power loss can resend."
        ),
    )
    destinations: dict[str, DestinationSyncConfig] = Field(
        default_factory=dict, description="Per-destination overrides, keyed by destination name."
    )
    lifecycle: LifecycleConfig = Field(
        default_factory=LifecycleConfig,
        description="Profile merges, deletions, orders, consent and unknown-user retries.",
    )

    @field_validator("default_cron")
    @classmethod
    def _cron(cls, value: str) -> str:
        return check_cron(value)

    def for_destination(
        self, name: str, *, update_existing_only: bool = True
    ) -> ResolvedSyncSettings:
        """Section defaults + the destination's overrides; `update_existing_only` comes from the
        destination's own config (destinations section), which owns how profiles are addressed."""
        own = self.destinations.get(name) or DestinationSyncConfig()
        return ResolvedSyncSettings(
            destination=name,
            cron=own.cron or self.default_cron,
            data_point_budget=own.data_point_budget
            if own.data_point_budget is not None
            else self.data_point_budget,
            max_objects_per_run=own.max_objects_per_run or self.max_objects_per_run,
            update_existing_only=update_existing_only,
            float_tolerance=self.float_tolerance,
            override_budget=self.override_budget,
            full_resync=self.full_resync,
            dry_run_sample_size=self.dry_run_sample_size,
            journal_fsync_interval_ms=self.journal_fsync_interval_ms,
            results_retention_days=self.results_retention_days,
            diff_memory_limit=self.diff_memory_limit,
            merge_mode=own.merge_mode or self.lifecycle.merge_mode,
            retry_unknown_every_days=self.lifecycle.retry_unknown_every_days,
            retry_unknown_for_days=self.lifecycle.retry_unknown_for_days,
        )


def _default(name: str):
    return SyncConfig.model_fields[name].default


class ResolvedSyncSettings(StrictModel):
    """The effective settings of one destination's sync (section defaults + its overrides)."""

    destination: str
    cron: str = _default("default_cron")
    data_point_budget: int | None = _default("data_point_budget")
    max_objects_per_run: int | None = _default("max_objects_per_run")
    update_existing_only: bool = True
    float_tolerance: float = _default("float_tolerance")
    override_budget: bool = _default("override_budget")
    full_resync: bool = _default("full_resync")
    dry_run_sample_size: int = _default("dry_run_sample_size")
    journal_fsync_interval_ms: int = _default("journal_fsync_interval_ms")
    results_retention_days: int = _default("results_retention_days")
    diff_memory_limit: str | None = _default("diff_memory_limit")
    merge_mode: MergeMode = "merge"
    # Unknown-user rejections are retried on this back-off (None: held back like any rejection).
    retry_unknown_every_days: float | None = 1.0
    retry_unknown_for_days: float = 30


def check_cron(value: str) -> str:
    fields = value.split()
    if len(fields) != _CRON_FIELDS or not all(_CRON_FIELD.match(f) for f in fields):
        raise ValueError(
            f"cron {value!r} must have 5 fields (minute hour day month weekday), e.g. '0 6 * * *'"
        )
    return value
