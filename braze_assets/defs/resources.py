"""Resources shared across domains."""

from __future__ import annotations

from dagster_duckdb import DuckDBResource

from braze_assets import settings


def warehouse_resource() -> DuckDBResource:
    return DuckDBResource(database=str(settings.warehouse_path()))
