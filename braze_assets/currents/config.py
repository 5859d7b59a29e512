"""The `currents` config section: how Currents files are found and loaded.

Where they are (bucket, prefix, endpoint) is deployment, not configuration: CURRENTS_S3_BUCKET,
CURRENTS_S3_PREFIX and the standard AWS variables (including AWS_ENDPOINT_URL).
"""

from __future__ import annotations

from datetime import date

from pydantic import Field

from braze_assets.currents.discovery import DEFAULT_LOOKBACK_HOURS
from braze_assets.currents.ingest import DEFAULT_BATCH_ROWS, DEFAULT_WORKERS
from braze_assets.strict import StrictModel


class CurrentsConfig(StrictModel):
    start_date: date = Field(
        default=date(2025, 1, 1),
        description="First event date (UTC) with a `currents_events` partition.",
    )
    lookback_hours: int = Field(
        default=DEFAULT_LOOKBACK_HOURS,
        ge=1,
        le=24 * 31,
        description="How far back the sensor looks for new or late files each tick; older late files "
        "load when their day is materialised again (backfill).",
    )
    sensor_interval_seconds: int = Field(
        default=60, ge=10, description="Minimum time between sensor ticks."
    )
    batch_rows: int = Field(
        default=DEFAULT_BATCH_ROWS,
        ge=1000,
        description="Events decoded before each write: bounds memory.",
    )
    workers: int = Field(
        default=DEFAULT_WORKERS, ge=1, le=32, description="Files fetched and decoded in parallel."
    )
