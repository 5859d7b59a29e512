"""Engine-aware asset wiring: which resource, pool and kinds a ported stage's asset declares, and
the Engine it runs on.

Only DuckDB needs the single-writer pool (one process may write the file); Spark mode's assets
write Parquet directories through their own session and take no pool, so they run side by side.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import polars as pl

from braze_assets.defs.project import (
    OWNERS,
    WAREHOUSE_POOL,
    _markdown,
    project_config,
    table_metadata,
)
from braze_assets.defs.resources import WAREHOUSE_KEY
from braze_assets.engine import EngineConfig, effective_engine
from braze_assets.engine.duckdb_engine import DuckDBEngine
from braze_assets.warehouse import (
    create_tables,
    quote,
    quote_literal,
    table_columns,
    table_exists,
    transaction,
)

SPARK_KEY = "spark"


def active_engine() -> EngineConfig:
    return effective_engine(project_config().engine)


def engine_asset_args(*kinds: str, warehouse_copy: bool = False) -> dict:
    """@dg.asset arguments for a stage written against the Engine interface: its kinds, the
    project's owners (as warehouse_asset gives them), and the resources and pool of the engine.

    `warehouse_copy`: in Spark mode the stage also copies its table into the DuckDB file
    (copy_to_warehouse) for the stages after it that still run on DuckDB, so it opens the file
    and takes the pool."""
    if active_engine().name == "spark":
        keys = {SPARK_KEY, WAREHOUSE_KEY} if warehouse_copy else {SPARK_KEY}
        pool = WAREHOUSE_POOL if warehouse_copy else None
        kinds = {"spark", *kinds}
    else:
        keys, pool, kinds = {WAREHOUSE_KEY}, WAREHOUSE_POOL, {"duckdb", *kinds}
    return {"kinds": kinds, "owners": OWNERS, "pool": pool, "required_resource_keys": keys}


def engine_resources() -> dict:
    """The Spark resource in Spark mode (built lazily: no JVM until an asset runs)."""
    engine = active_engine()
    if engine.name != "spark":
        return {}
    from braze_assets.defs.spark import spark_resource

    return {SPARK_KEY: spark_resource(engine.spark)}


def warehouse_memory_limit() -> str | None:
    """The driver's DuckDB cap in Spark mode (engine.spark.warehouse_memory_limit); None in
    DuckDB mode, where DuckDB is the whole engine and keeps its own default."""
    engine = active_engine()
    return engine.spark.warehouse_memory_limit if engine.name == "spark" else None


def duckdb_stage_args() -> dict:
    """@dg.asset arguments for a stage still written for DuckDB only (the pool and the warehouse);
    in Spark mode it also needs Spark, to bridge its inputs and outputs to the table location.

    The sources keep DuckDB's readers and publish each raw table to Spark."""
    keys = {WAREHOUSE_KEY} | ({SPARK_KEY} if active_engine().name == "spark" else set())
    return {"pool": WAREHOUSE_POOL, "required_resource_keys": keys}


def _spark(context: dg.AssetExecutionContext):
    """The run's Spark resource in Spark mode; None in DuckDB mode (no such resource)."""
    return getattr(context.resources, SPARK_KEY, None)


def spark_engine(context: dg.AssetExecutionContext):
    """The Spark engine in Spark mode; None in DuckDB mode."""
    spark = _spark(context)
    return None if spark is None else spark.engine()


def _table_files(location: str, table: str) -> str:
    """DuckDB's read_parquet argument for a Spark table's files: its own and its appended
    directories' (spark_engine's _append), not those of a hidden directory (an append that
    was killed)."""
    from braze_assets.engine.spark_engine import local_path

    local = local_path(location)
    if local is None:
        return quote_literal(f"{location}/{table}/*.parquet")
    directory = Path(local) / table
    files = sorted(
        str(path)
        for path in directory.rglob("*.parquet")
        if not any(part.startswith(("_", ".")) for part in path.relative_to(directory).parts)
    )
    return "[" + ", ".join(quote_literal(f) for f in files) + "]"


def import_from_spark(
    context: dg.AssetExecutionContext, con, table: str, order_by: str | None = None
) -> None:
    """In Spark mode, replace the warehouse's `table` with the one a Spark stage wrote, in the
    order DuckDB mode writes it (so later stages see the same rows in the same order)."""
    spark = _spark(context)
    if spark is None:
        return
    files = _table_files(spark.table_location, table)
    order = f" ORDER BY {order_by}" if order_by else ""
    con.execute(
        f"CREATE OR REPLACE TABLE {quote(table)} AS SELECT * FROM read_parquet({files}){order}"
    )


def copy_to_warehouse(
    context: dg.AssetExecutionContext,
    table: str,
    order_by: str | None = None,
    columns: str | None = None,
    where: str = "true",
    params: list | None = None,
) -> None:
    """In Spark mode, copy the table a Spark stage just wrote into the warehouse file, for the
    stages after it that still run on DuckDB (asset declared with warehouse_copy=True).

    With `columns` (as warehouse.create_tables takes them) the warehouse's table keeps these
    types (e.g. UHUGEINT key ids, which Spark stores as decimals), and only its rows for which
    `where` holds (its `?` bound to `params`) are replaced, by the Spark table's such rows, in one
    transaction: a stage that adds a run's rows copies those, not the whole history."""
    spark = _spark(context)
    if spark is None:
        return
    with getattr(context.resources, WAREHOUSE_KEY).get_connection() as con:
        if columns is None:
            import_from_spark(context, con, table, order_by=order_by)
            return
        files = _table_files(spark.table_location, table)
        order = f" ORDER BY {order_by}" if order_by else ""
        create_tables(con, {table: columns})
        with transaction(con):
            con.execute(f"DELETE FROM {quote(table)} WHERE {where}", params)
            con.execute(
                f"INSERT INTO {quote(table)} BY NAME SELECT * FROM read_parquet({files}) "
                f"WHERE {where}{order}",
                params,
            )


# DuckDB types Spark cannot read from Parquet (unsigned and 128-bit integers, JSON), written as
# the types the Spark engine stores them as (spark_engine.spark_type).
_SPARK_READABLE = {
    "UHUGEINT": "DECIMAL(38,0)",
    "HUGEINT": "DECIMAL(38,0)",
    "UBIGINT": "DECIMAL(20,0)",
    "UINTEGER": "BIGINT",
    "USMALLINT": "INTEGER",
    "UTINYINT": "SMALLINT",
    "JSON": "VARCHAR",
}


def export_to_spark(context: dg.AssetExecutionContext, tables: Sequence[str], con=None):
    """In Spark mode, replace the Spark tables `tables` with the warehouse file's (those it has;
    through `con`, else a connection of its own) and return the Spark engine; None in DuckDB
    mode. For tables only DuckDB writes (the raw tables the sources load, the sync's confirmed
    state, rejections, deletions) that a Spark stage reads. On a local table location DuckDB writes the Parquet files itself, so no
    row passes through Python; elsewhere (s3a://) the rows go through the driver as Arrow."""
    engine = spark_engine(context)
    if engine is None:
        return None
    if con is None:
        with getattr(context.resources, WAREHOUSE_KEY).get_connection() as own:
            return export_to_spark(context, tables, own)
    return export_tables(con, engine, tables)


def export_tables(con, engine, tables: Sequence[str]):
    """export_to_spark's copy: the warehouse's `tables` (those it has) to the Spark engine's
    location; returns the engine."""
    from braze_assets.engine.spark_engine import local_path

    for table in tables:
        if not table_exists(con, table):
            continue
        select = ", ".join(
            f"CAST({quote(name)} AS {_SPARK_READABLE[kind]}) AS {quote(name)}"
            if kind in _SPARK_READABLE
            else quote(name)
            for name, kind in table_columns(con, table).items()
        )
        query = f"SELECT {select} FROM {quote(table)}"
        if local_path(engine.location) is None:
            engine.write_arrow(table, con.execute(query).to_arrow_table())
            continue
        engine.write_files(
            table,
            lambda directory, query=query: con.execute(
                f"COPY ({query}) TO {quote_literal(directory + '/part-0.parquet')} (FORMAT parquet)"
            ),
        )
    return engine


@contextmanager
def open_engine(context: dg.AssetExecutionContext) -> Iterator:
    spark = _spark(context)
    if spark is not None:
        yield spark.engine()
        return
    with getattr(context.resources, WAREHOUSE_KEY).get_connection() as con:
        yield DuckDBEngine(con)


def engine_table_metadata(engine, table: str, *, preview_rows: int = 5) -> dict:
    """table_metadata for either engine: row count, schema and a markdown preview."""
    if isinstance(engine, DuckDBEngine):
        return table_metadata(engine.con, table, preview_rows=preview_rows)
    frame = engine.session.table(table)
    preview = pl.from_arrow(frame.limit(int(preview_rows)).toArrow())
    return {
        "dagster/row_count": dg.MetadataValue.int(frame.count()),
        "dagster/column_schema": dg.TableSchema(
            columns=[dg.TableColumn(f.name, f.dataType.simpleString()) for f in frame.schema]
        ),
        "table": dg.MetadataValue.text(table),
        "location": dg.MetadataValue.path(engine.table_path(table)),
        "preview": dg.MetadataValue.md(_markdown(preview)),
    }
