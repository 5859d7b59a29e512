"""The Engine on a DuckDB connection: every call is what the stage ran before the interface."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import duckdb
import pyarrow as pa

from braze_assets.engine.base import component_labels, conform, map_schema, results_batch
from braze_assets.engine.parallel import map_rows
from braze_assets.warehouse import create_tables, quote, table_exists, transaction


class DuckDBEngine:
    name = "duckdb"
    errors = (duckdb.Error,)

    def __init__(self, con: duckdb.DuckDBPyConnection):
        self.con = con

    def fetch(self, query: str, params: list | None = None) -> list[tuple]:
        return self.con.execute(query, params).fetchall()

    def read_arrow(self, query: str) -> pa.Table:
        return self.con.execute(query).to_arrow_table()

    def create_temp(self, name: str, query: str, params: list | None = None) -> None:
        self.con.execute(f"CREATE OR REPLACE TEMP TABLE {quote(name)} AS {query}", params)

    def drop_temp(self, name: str) -> None:
        self.con.execute(f"DROP TABLE IF EXISTS {quote(name)}")

    def register(self, name: str, table: pa.Table) -> None:
        self.con.register(name, table)

    def unregister(self, name: str) -> None:
        self.con.unregister(name)

    def map_distinct(self, name, query, inputs, fn, outputs, types=None) -> None:
        schema = map_schema(inputs, outputs, types)
        # Fetched as Arrow and kept as the input columns: fetchall's tuples and arrays rebuilt
        # from them cost ~2x (1.2 against 0.5 CPU-s for the 1M benchmark's 582k phones).
        table = self.read_arrow(query)
        arrays = [
            table.column(i).combine_chunks().cast(schema.field(i).type) for i in range(len(inputs))
        ]
        columns = [array.to_pylist() for array in arrays]
        # On every core for large maps (parallel.py): the Python normalisers ran on one.
        batch = results_batch(arrays, map_rows(columns, fn), outputs, schema)
        self.con.register(name, pa.Table.from_batches([batch]))

    def write_table(self, name: str, query: str) -> None:
        self.con.execute(f"CREATE OR REPLACE TABLE {quote(name)} AS {query}")

    def table_exists(self, name: str) -> bool:
        return table_exists(self.con, name)

    def columns(self, name: str) -> list[str]:
        return [row[0] for row in self.con.execute(f"DESCRIBE {quote(name)}").fetchall()]

    def create_temp_view(self, name: str, query: str) -> None:
        self.con.execute(f"CREATE OR REPLACE TEMP VIEW {quote(name)} AS {query}")

    def drop_view(self, name: str) -> None:
        self.con.execute(f"DROP VIEW IF EXISTS {quote(name)}")

    @contextmanager
    def _arrow_view(self, name: str, table: pa.Table) -> Iterator[str]:
        """An Arrow table from the driver, queryable (quoted name yielded) for one statement."""
        view = f"_arrow_{name}"
        self.con.register(view, table)
        try:
            yield quote(view)
        finally:
            self.con.unregister(view)

    def write_arrow(self, name: str, table: pa.Table) -> None:
        with self._arrow_view(name, table) as view:
            self.write_table(name, f"SELECT * FROM {view}")

    def splink_api(self):
        from splink import DuckDBAPI

        # Splink's own: Spark mode samples by DuckDB's hash() too (splink_dialects).
        return DuckDBAPI(self.con)

    def splink_sql(self, condition: str) -> str:
        return condition

    def drop_splink_tables(self) -> None:
        # Splink's blocking analysis (used when EM samples pairs) registers this relation.
        if self.con.execute(
            "SELECT count(*) FROM duckdb_views() WHERE view_name = 'result_df' AND temporary"
        ).fetchone()[0]:
            self.con.unregister("result_df")
        for name, kind in self.con.execute(
            "SELECT table_name, table_type FROM information_schema.tables "
            "WHERE table_name LIKE '__splink__%'"
        ).fetchall():
            self.con.execute(
                f"DROP {'VIEW' if kind == 'VIEW' else 'TABLE'} IF EXISTS {quote(name)}"
            )

    def distribution(self, query: str):
        import numpy as np

        values = self.con.execute(query).fetchnumpy()
        column = np.asarray(next(iter(values.values())), dtype=float)
        return column, np.ones_like(column)

    def create_indexed(self, name: str, query: str, order_by: str) -> None:
        self.create_temp(
            name,
            f"SELECT *, (row_number() OVER (ORDER BY {order_by}) - 1)::BIGINT AS idx FROM ({query})",
        )

    def components(self, name: str, nodes: str, edges: str) -> None:
        # One machine holds the graph anyway: numpy settles it faster than rounds of SQL.
        ids = self.con.execute(f"SELECT node FROM ({nodes})").fetchnumpy()["node"]
        pairs = self.con.execute(f"SELECT l, r FROM ({edges})").fetchnumpy()
        node, component = component_labels(ids, pairs["l"], pairs["r"])
        with self._arrow_view(name, pa.table({"node": node, "component": component})) as view:
            self.create_temp(name, f"SELECT * FROM {view}")

    def read_files(self, name, files, read, schema) -> None:
        batches = (batch for i, path in enumerate(files) for batch in read(i, path))
        reader = pa.RecordBatchReader.from_batches(schema, batches)
        with self._arrow_view(name, reader) as view:
            self.con.execute(f"CREATE OR REPLACE TEMP TABLE {quote(name)} AS SELECT * FROM {view}")

    def create_view(self, name: str, query: str) -> None:
        self.con.execute(f"CREATE OR REPLACE VIEW {quote(name)} AS {query}")

    def column_types(self, query: str) -> dict[str, str]:
        return {row[0]: row[1] for row in self.con.execute(f"DESCRIBE {query}").fetchall()}

    def arrow_schema(self, query: str) -> pa.Schema:
        return self.con.execute(f"SELECT * FROM ({query}) LIMIT 0").to_arrow_table().schema

    def map_batches(self, name, query, fn, schema) -> None:
        self.con.register(name, conform(fn(self.read_arrow(query)), schema))

    def write_union(self, name: str, queries: list[str], order_by: str) -> None:
        union = " UNION ALL BY NAME ".join(f"SELECT * FROM ({q})" for q in queries)
        self.write_table(name, f"SELECT * FROM ({union}) ORDER BY {order_by}")

    @contextmanager
    def utc(self) -> Iterator[None]:
        zone = self.con.execute("SELECT current_setting('TimeZone')").fetchone()[0]
        self.con.execute("SET TimeZone = 'UTC'")
        try:
            yield
        finally:
            self.con.execute(f"SET TimeZone = '{zone}'")

    def atomic(self):
        return transaction(self.con)

    def create_table(self, name: str, columns: str) -> None:
        create_tables(self.con, {name: columns})

    def replace_rows(self, name: str, where: str, query: str) -> None:
        self.con.execute(f"DELETE FROM {quote(name)} WHERE {where}")
        self.con.execute(f"INSERT INTO {quote(name)} {query}")

    def interrupt(self) -> None:
        self.con.interrupt()


def as_engine(con_or_engine) -> DuckDBEngine:
    """Stages take an Engine; a DuckDB connection (what callers held before) is wrapped."""
    if isinstance(con_or_engine, duckdb.DuckDBPyConnection):
        return DuckDBEngine(con_or_engine)
    return con_or_engine
