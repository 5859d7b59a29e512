"""Resources shared across domains."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

import duckdb
from dagster_duckdb import DuckDBResource

from braze_assets import settings, warehouse
from braze_assets.audiences import open_read_only

# The resource key every asset, check and op that touches the warehouse asks for.
WAREHOUSE_KEY = "duckdb"


class WarehouseResource(DuckDBResource):
    """DuckDBResource whose first connection creates the file in the warehouse's storage format and
    whose connections honour BRAZE_ASSETS_WAREHOUSE_MEMORY_LIMIT, else `memory_limit` (Spark mode
    caps the driver's DuckDB with it)."""

    memory_limit: str | None = None

    @contextmanager
    def get_connection(self):
        warehouse.create_if_missing(self.database)
        # DuckDBResource's own open, except that a file this DuckDB cannot read (a newer DuckDB's)
        # fails at once with the one-line explanation instead of ten backoff retries (minutes) and
        # DuckDB's dump. A lock held by another process is still waited for the same way.
        con = self._open_with_retries()
        try:
            warehouse.apply_memory_limit(con, self.memory_limit)
            warehouse.quiet_progress(con)
            yield con
        finally:
            con.close()

    def _open_with_retries(self, retries: int = 10) -> duckdb.DuckDBPyConnection:
        # DuckDBResource's schedule: 0.1 s, doubling, ten retries.
        for delay in [0.1 * 2**n for n in range(retries)]:
            try:
                return self._open()
            except duckdb.IOException:
                time.sleep(delay)
        return self._open()

    def _open(self) -> duckdb.DuckDBPyConnection:
        with warehouse.explained_open(self.database):
            return duckdb.connect(
                self.database,
                read_only=False,
                config={"custom_user_agent": "dagster", **self.connection_config},
            )


@contextmanager
def read_only_connection(resource: DuckDBResource) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-only connection to the resource's warehouse, for checks that only read. DuckDB lets one
    process write a file or many read it, never both, so a reader still needs WAREHOUSE_POOL; read-only
    makes sure a check cannot change what it reports on."""
    warehouse.create_if_missing(resource.database)
    limit = getattr(resource, "memory_limit", None)
    with warehouse.connect(resource.database, read_only=True, memory_limit=limit) as con:
        yield con


@contextmanager
def audience_connection(resource: DuckDBResource) -> Iterator[duckdb.DuckDBPyConnection]:
    """The locked-down read-only connection analyst audiences run on (see audiences/evaluate.py)."""
    con = open_read_only(resource.database)
    try:
        yield con
    finally:
        con.close()


def warehouse_resource(memory_limit: str | None = None) -> DuckDBResource:
    return WarehouseResource(database=str(settings.warehouse_path()), memory_limit=memory_limit)
