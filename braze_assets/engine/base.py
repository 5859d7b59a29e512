"""The small interface every ported stage is written against, once, for both engines.

A stage speaks DuckDB's SQL dialect; the Spark engine transpiles it with sqlglot. Python per-value
work (the phone, email and name normalisers) runs in plain functions whose results the stage hands
over as Arrow tables (`register`), so both engines share the very same code and the same values.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Protocol, runtime_checkable

import pyarrow as pa


@runtime_checkable
class Engine(Protocol):
    name: str

    def fetch(self, query: str, params: list | None = None) -> list[tuple]:
        """Rows of a query, as tuples, on the driver (for small results only)."""

    def read_arrow(self, query: str) -> pa.Table:
        """A query's result as one Arrow table on the driver (for small results only)."""

    def create_temp(self, name: str, query: str) -> None:
        """Materialise a query under a session-local name."""

    def drop_temp(self, name: str) -> None: ...

    def register(self, name: str, table: pa.Table) -> None:
        """Make an Arrow table queryable under `name` for this session."""

    def unregister(self, name: str) -> None: ...

    def map_distinct(
        self,
        name: str,
        query: str,
        inputs: list[str],
        fn: Callable[..., tuple],
        outputs: list[str],
        types: dict[str, pa.DataType] | None = None,
    ) -> None:
        """Make `name(*inputs, *outputs)` queryable: fn(*row) for every row of `query` (whose
        columns are `inputs`, one row per distinct value). DuckDB calls fn on the driver over the
        fetched values; Spark calls it in Arrow batches on the executors (mapInArrow), so the
        driver never holds the values. Column types default to string."""

    def write_table(self, name: str, query: str) -> None:
        """Replace the stored table `name` with a query's result."""

    def table_exists(self, name: str) -> bool: ...

    def columns(self, name: str) -> list[str]:
        """Column names of a table, temp table or registered table, in order."""

    # Added for the attributes stage.

    errors: tuple[type[BaseException], ...]
    """The exceptions a query that does not bind or fails on a row raises."""

    def create_view(self, name: str, query: str) -> None:
        """A view of `query` under `name` (DuckDB: stored in the file; Spark: in the session)."""

    def column_types(self, query: str) -> dict[str, str]:
        """A query's column types, spelled as DuckDB spells them (e.g. VARCHAR, DECIMAL(18,2))."""

    def arrow_schema(self, query: str) -> pa.Schema:
        """The Arrow schema of a query's result, without running it."""

    def map_batches(
        self, name: str, query: str, fn: Callable[[pa.Table], pa.Table], schema: pa.Schema
    ) -> None:
        """Make `name` queryable: fn over the rows of `query` in Arrow tables of any size, each
        row's output depending on that row only. DuckDB calls fn once on the driver over the whole
        result; Spark calls it per Arrow batch on the executors (mapInArrow). fn returns `schema`."""

    def write_union(self, name: str, queries: list[str], order_by: str) -> None:
        """Replace the stored table `name` with the queries' rows matched by column name (a column
        a query lacks is NULL), ordered by `order_by`."""

    def utc(self) -> AbstractContextManager:
        """A block in which timestamps with a zone are read and shown in UTC."""

    def atomic(self) -> AbstractContextManager:
        """A block whose table writes land together (DuckDB) or each whole (Spark)."""


def map_schema(
    inputs: list[str], outputs: list[str], types: dict[str, pa.DataType] | None
) -> pa.Schema:
    types = types or {}
    return pa.schema([(c, types.get(c, pa.string())) for c in [*inputs, *outputs]])


def mapped_batch(
    columns: list[list], fn: Callable[..., tuple], outputs: list[str], schema: pa.Schema
) -> pa.RecordBatch:
    """Inputs (one list per column) and fn's outputs as one batch of `schema`; both engines build
    their map tables with it, so the values and their types are the same."""
    results = [fn(*args) for args in zip(*columns)]
    arrays = [pa.array(c, type=schema.field(i).type) for i, c in enumerate(columns)]
    arrays += [
        pa.array([r[j] for r in results], type=schema.field(len(columns) + j).type)
        for j in range(len(outputs))
    ]
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """fn's output in exactly `schema` (polars hands strings back as large_string)."""
    return pa.Table.from_arrays([table.column(f.name).cast(f.type) for f in schema], schema=schema)
