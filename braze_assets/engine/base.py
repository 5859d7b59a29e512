"""The small interface every ported stage is written against, once, for both engines.

A stage speaks DuckDB's SQL dialect; the Spark engine transpiles it with sqlglot. Python per-value
work (the phone, email and name normalisers) runs in plain functions whose results the stage hands
over as Arrow tables (`register`), so both engines share the very same code and the same values.
"""

from __future__ import annotations

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

    def write_table(self, name: str, query: str) -> None:
        """Replace the stored table `name` with a query's result."""

    def table_exists(self, name: str) -> bool: ...

    def columns(self, name: str) -> list[str]:
        """Column names of a table, temp table or registered table, in order."""
