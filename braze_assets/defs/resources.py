"""Resources shared across domains."""

from __future__ import annotations

from contextlib import contextmanager

from dagster_duckdb import DuckDBResource

from braze_assets import settings, warehouse


class WarehouseResource(DuckDBResource):
    """DuckDBResource whose first connection creates the file in the warehouse's storage format and
    whose connections honour BRAZE_ASSETS_WAREHOUSE_MEMORY_LIMIT."""

    @contextmanager
    def get_connection(self):
        warehouse.create_if_missing(self.database)
        with super().get_connection() as con:
            warehouse.apply_memory_limit(con)
            yield con


def warehouse_resource() -> DuckDBResource:
    return WarehouseResource(database=str(settings.warehouse_path()))
