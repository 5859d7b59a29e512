"""The small interface every ported stage is written against, once, for both engines.

A stage speaks DuckDB's SQL dialect; the Spark engine transpiles it with sqlglot. Python per-value
work (the phone, email and name normalisers) runs in plain functions whose results the stage hands
over as Arrow tables (`register`), so both engines share the very same code and the same values.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any, Protocol, runtime_checkable

import pyarrow as pa


@runtime_checkable
class Engine(Protocol):
    name: str

    def fetch(self, query: str, params: list | None = None) -> list[tuple]:
        """Rows of a query, as tuples, on the driver (for small results only)."""

    def read_arrow(self, query: str) -> pa.Table:
        """A query's result as one Arrow table on the driver (for small results only)."""

    def create_temp(self, name: str, query: str, params: list | None = None) -> None:
        """Materialise a query under a session-local name (`params` bind its `?` markers)."""

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

    # Added for the identity stages (scoring and clustering).

    def create_temp_view(self, name: str, query: str) -> None:
        """A session-local view: computed where it is read, never stored."""

    def drop_view(self, name: str) -> None: ...

    def write_arrow(self, name: str, table: pa.Table) -> None:
        """Replace the stored table `name` with a (small) Arrow table from the driver."""

    def splink_api(self) -> Any:
        """A Splink database API on this engine's session (DuckDBAPI or SparkAPI)."""

    def splink_sql(self, condition: str) -> str:
        """A DuckDB-dialect SQL condition (a Splink custom comparison level) in the dialect
        Splink runs on this engine."""

    def drop_splink_tables(self) -> None:
        """Drop what Splink left in the session (its __splink__ tables, views and files)."""

    def distribution(self, query: str) -> tuple[Any, Any]:
        """The values of a one-column query and how many rows hold each, as float numpy arrays:
        DuckDB gives every row once, in the query's order (the stage's sums are then exactly what
        they were before the interface); Spark groups by value, so the driver holds only the
        distinct values."""

    def create_indexed(self, name: str, query: str, order_by: str) -> None:
        """Materialise a query with a BIGINT column `idx` that increases with `order_by` (unique;
        0, 1, 2... on DuckDB, with gaps on Spark, which numbers its sorted partitions apart
        instead of sorting all rows in one task as a window without partitions would)."""

    def components(self, name: str, nodes: str, edges: str) -> None:
        """Make `name(node, component)` queryable: the connected components of the graph whose
        nodes (BIGINT column `node`) and undirected edges (BIGINT columns `l`, `r`) the queries
        give; a component is labelled by its smallest node. DuckDB runs union-find on the
        driver; Spark does too up to SparkEngine.driver_graph_limit nodes and edges, and above it
        propagates minimum labels in SQL, so a large graph never leaves the executors."""

    # Added for the audiences, the snapshots and the diff.

    def create_table(self, name: str, columns: str) -> None:
        """Create the stored table `name`, empty, unless it exists: `columns` as
        warehouse.create_tables takes them (DuckDB types; NOT NULL unless marked NULL, which
        DuckDB enforces and Spark's Parquet tables do not)."""

    def replace_rows(self, name: str, where: str, query: str) -> None:
        """Replace the rows of the stored table `name` for which `where` holds with the rows of
        `query` (the table's columns, in order); `where` must be true or false on every row and
        `query` must not read `name`. DuckDB deletes and inserts (one transaction inside
        atomic()); Spark rewrites the table whole, so readers see the old rows or the new."""

    def interrupt(self) -> None:
        """Stop what runs on this engine now (an analyst's query ran out of time)."""

    # Added for the sources.

    def read_files(
        self,
        name: str,
        files: list[str],
        read: Callable[[int, str], Iterator[pa.RecordBatch]],
        schema: pa.Schema,
    ) -> None:
        """Make `name` queryable: the batches (of `schema`) read(i, files[i]) yields for every
        file. DuckDB calls read on the driver, file after file; Spark calls it in a task of its own
        per file on the executors, so the files are parsed there and the driver never holds the
        rows."""


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
    inputs = [pa.array(c, type=schema.field(i).type) for i, c in enumerate(columns)]
    return results_batch(inputs, [fn(*args) for args in zip(*columns)], outputs, schema)


def results_batch(
    inputs: list[pa.Array], results: list[tuple], outputs: list[str], schema: pa.Schema
) -> pa.RecordBatch:
    """The input arrays and fn's results already computed (results[i] for the i-th input row)
    as one batch of `schema`."""
    arrays = [*inputs]
    arrays += [
        pa.array([r[j] for r in results], type=schema.field(len(inputs) + j).type)
        for j in range(len(outputs))
    ]
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def component_labels(nodes, left, right):
    """Each node's component, labelled by its smallest node (numpy arrays of int64 in, one out):
    minimum labels spread along the edges, with pointer jumping, until nothing changes."""
    import numpy as np

    ids = np.unique(np.asarray(nodes, dtype=np.int64))
    left = np.searchsorted(ids, np.asarray(left, dtype=np.int64))
    right = np.searchsorted(ids, np.asarray(right, dtype=np.int64))
    labels = np.arange(len(ids), dtype=np.int64)
    while True:
        before = labels.copy()
        low = np.minimum(labels[left], labels[right])
        np.minimum.at(labels, left, low)
        np.minimum.at(labels, right, low)
        labels = labels[labels]
        if np.array_equal(labels, before):
            return ids, ids[labels]


def propagate_components(engine, name: str, nodes: str, edges: str) -> None:
    """Engine.components in SQL (for engines that cannot hold the graph on the driver): each
    round every node takes the smallest label among itself and its neighbours, then the label of
    its label (pointer jumping), so a chain of k links settles in about log k rounds."""
    both, labels, step = f"{name}__edges", f"{name}__labels", f"{name}__step"
    engine.create_temp(
        both,
        f"SELECT l AS a, r AS b FROM ({edges}) e WHERE l <> r "
        f"UNION ALL SELECT r AS a, l AS b FROM ({edges}) e WHERE l <> r",
    )
    engine.create_temp(
        labels, f"SELECT a AS node, least(a, min(b)) AS label FROM {both} GROUP BY a"
    )
    while True:
        engine.create_temp(
            step,
            f"SELECT x.node, least(x.label, coalesce(n.label, x.label)) AS label FROM {labels} x "
            f"LEFT JOIN (SELECT e.a AS node, min(l.label) AS label FROM {both} e "
            f"JOIN {labels} l ON l.node = e.b GROUP BY e.a) n ON n.node = x.node",
        )
        engine.create_temp(
            step,
            f"SELECT x.node, least(x.label, coalesce(y.label, x.label)) AS label FROM {step} x "
            f"LEFT JOIN {step} y ON y.node = x.label",
        )
        changed = engine.fetch(
            f"SELECT count(*) FROM {step} s JOIN {labels} l ON l.node = s.node "
            "WHERE s.label <> l.label"
        )[0][0]
        engine.create_temp(labels, f"SELECT node, label FROM {step}")
        if not changed:
            break
    engine.create_temp(
        name,
        f"SELECT n.node, coalesce(l.label, n.node) AS component FROM ({nodes}) n "
        f"LEFT JOIN {labels} l ON l.node = n.node",
    )
    for table in (both, labels, step):
        engine.drop_temp(table)


def conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """fn's output in exactly `schema` (polars hands strings back as large_string)."""
    return pa.Table.from_arrays([table.column(f.name).cast(f.type) for f in schema], schema=schema)
