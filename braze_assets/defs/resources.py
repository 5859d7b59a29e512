"""Resources shared across domains."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

import duckdb
from dagster_duckdb import DuckDBResource

from braze_assets import settings, warehouse
from braze_assets.audiences import open_read_only

# The resource key every asset, check and op that touches the warehouse asks for.
WAREHOUSE_KEY = "duckdb"


class WarehouseResource(DuckDBResource):
    """DuckDBResource whose first connection creates the file in the warehouse's storage format and
    whose connections honour BRAZE_ASSETS_WAREHOUSE_MEMORY_LIMIT."""

    @contextmanager
    def get_connection(self):
        warehouse.create_if_missing(self.database)
        with ExitStack() as stack:
            # Only the open is explained: errors of the step's own work pass through unchanged.
            with warehouse.explained_open(self.database):
                con = stack.enter_context(super().get_connection())
            warehouse.apply_memory_limit(con)
            yield con


@contextmanager
def read_only_connection(resource: DuckDBResource) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-only connection to the resource's warehouse, for checks that only read. DuckDB lets one
    process write a file or many read it, never both, so a reader still needs WAREHOUSE_POOL; read-only
    makes sure a check cannot change what it reports on."""
    warehouse.create_if_missing(resource.database)
    with warehouse.connect(resource.database, read_only=True) as con:
        yield con


@contextmanager
def audience_connection(resource: DuckDBResource) -> Iterator[duckdb.DuckDBPyConnection]:
    """The locked-down read-only connection analyst audiences run on (see audiences/evaluate.py)."""
    con = open_read_only(resource.database)
    try:
        yield con
    finally:
        con.close()


def warehouse_resource() -> DuckDBResource:
    return WarehouseResource(database=str(settings.warehouse_path()))
