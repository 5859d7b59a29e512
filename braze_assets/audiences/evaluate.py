"""Run one audience (rule segment or SQL audience) on the engine: on DuckDB a locked-down,
read-only connection; on Spark the session, after the SQL audience was checked to transpile."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path

import duckdb
import polars as pl

from braze_assets import settings
from braze_assets.audiences.columns import ID_COLUMN, SOURCE_VIEW
from braze_assets.audiences.compiler import CompiledSql, compile_segment, sql_audience_text
from braze_assets.audiences.config import AudiencesConfig
from braze_assets.audiences.errors import AudienceError
from braze_assets.audiences.sql_guard import validate_spark_sql_audience, validate_sql_audience
from braze_assets.engine.base import Engine
from braze_assets.engine.duckdb_engine import DuckDBEngine, as_engine
from braze_assets.warehouse import explained_open, memory_limit_error, quote, table_columns

# The second lock behind the parser (sql_guard): no writes to the warehouse, no files, URLs,
# extensions or other databases, and no SET that could loosen this.
_READ_ONLY_CONFIG = {
    "enable_external_access": False,
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
    "lock_configuration": True,
}


def open_read_only(path: Path | str) -> duckdb.DuckDBPyConnection:
    """A read-only connection to the warehouse, as audiences are evaluated on."""
    if not Path(path).is_file():
        raise FileNotFoundError(f"warehouse {path} does not exist; build the customer 360 first")
    config = dict(_READ_ONLY_CONFIG)
    # Given at connect: lock_configuration forbids the SET that warehouse.apply_memory_limit uses.
    limit = settings.warehouse_memory_limit()
    if limit is not None:
        config["memory_limit"] = limit
    try:
        with explained_open(path):
            return duckdb.connect(str(path), read_only=True, config=config)
    except duckdb.InvalidInputException as error:
        if limit is None:
            raise
        raise memory_limit_error(limit, error) from None


def view_columns(con) -> dict[str, str]:
    """The real column types of customer_attribute_source, which segments are compiled against at run time."""
    engine = as_engine(con)
    if isinstance(engine, DuckDBEngine):
        columns = table_columns(engine.con, SOURCE_VIEW)
    elif engine.table_exists(SOURCE_VIEW):
        columns = engine.column_types(f"SELECT * FROM {SOURCE_VIEW}")
    else:
        columns = {}
    if not columns:
        raise AudienceError(
            SOURCE_VIEW,
            "the view does not exist in the warehouse yet; build the Braze attributes first",
            kind="view",
        )
    return columns


_ENGINE_NAMES = {"duckdb": "DuckDB", "spark": "Spark"}


def run_limited(
    con,
    name: str,
    sql: str,
    params: list | None = None,
    *,
    kind: str = "audience",
    what: str = "the query",
    into: str | None = None,
) -> pl.DataFrame | None:
    """Run one query on the audience connection (or engine) within
    BRAZE_ASSETS_AUDIENCE_SQL_TIMEOUT_S: every query that reads analyst-defined data (the
    audiences themselves and a campaign's follow-up reads of the view) has the same bound. With
    `into`, the rows stay on the engine as the temp table `into` (nothing is returned)."""
    engine = as_engine(con)
    limit = settings.audience_sql_timeout_s()
    fired = threading.Event()

    def stop() -> None:
        fired.set()
        engine.interrupt()

    # DuckDB checks for an interrupt between chunks, so a runaway join stops within moments.
    timer = threading.Timer(limit, stop)
    timer.daemon = True
    timer.start()
    try:
        if into is not None:
            engine.create_temp(into, sql, params or None)
            return None
        if isinstance(engine, DuckDBEngine):
            return engine.con.execute(sql, params or []).pl()
        return (
            pl.from_arrow(engine.read_arrow(sql))
            if not params
            else _fetch_frame(engine, sql, params)
        )
    except engine.errors as exc:
        if fired.is_set():
            raise AudienceError(
                name,
                f"{what} ran longer than {limit:g} s and was stopped; make it cheaper or raise "
                f"{settings.ENV_AUDIENCE_SQL_TIMEOUT_S}",
                kind=kind,
            ) from None
        label = _ENGINE_NAMES.get(engine.name, engine.name)
        raise AudienceError(name, f"{label} refused {what}: {exc}", kind=kind) from None
    finally:
        timer.cancel()


def _fetch_frame(engine: Engine, sql: str, params: list) -> pl.DataFrame:
    engine.create_temp("_audience_fetch", sql, params)
    try:
        return pl.from_arrow(engine.read_arrow("SELECT * FROM _audience_fetch"))
    finally:
        engine.drop_temp("_audience_fetch")


_run = run_limited


def audience_sql(
    engine: Engine,
    name: str,
    audiences: AudiencesConfig,
    columns: Mapping[str, str] | None = None,
) -> CompiledSql:
    """The query of a segment (compiled once, its values as parameters) or of an SQL audience
    (checked by the guard, and on Spark checked to transpile safely)."""
    if audiences.segment(name) is not None:
        return compile_segment(name, audiences, columns or view_columns(engine))
    sql_audience = audiences.sql_audience(name)
    if sql_audience is None:
        raise KeyError(f"no segment or SQL audience named {name!r}")
    validate_sql_audience(name, sql_audience.sql)
    if engine.name == "spark":
        validate_spark_sql_audience(name, sql_audience.sql)
    return CompiledSql(sql_audience_text(sql_audience.sql))


def materialise_audience(
    con,
    name: str,
    into: str,
    audiences: AudiencesConfig,
    as_of: datetime,
    columns: Mapping[str, str] | None = None,
) -> None:
    """The members of a segment (`customer_id`) or SQL audience (`customer_id` + its other
    columns) as the temp table `into`, on the engine: rows without a customer id are dropped, a
    row returned twice counts once, and an SQL audience that returns one customer twice with
    different values is an error, since its attributes would be ambiguous."""
    engine = as_engine(con)
    query = audience_sql(engine, name, audiences, columns)
    is_segment = audiences.segment(name) is not None
    if is_segment:
        run_limited(
            engine,
            name,
            f"SELECT DISTINCT {quote(ID_COLUMN)} FROM ({query.sql}) s "
            f"WHERE {quote(ID_COLUMN)} IS NOT NULL",
            query.bind(as_of),
            into=into,
        )
        return
    raw = f"{into}__rows"
    run_limited(engine, name, query.sql, query.bind(as_of), into=raw)
    try:
        present = engine.columns(raw)
        if ID_COLUMN not in present:
            raise AudienceError(
                name,
                f"the query must return a {ID_COLUMN!r} column; it returned {', '.join(present)}",
            )
        engine.create_temp(
            into, f"SELECT DISTINCT * FROM {raw} WHERE {quote(ID_COLUMN)} IS NOT NULL"
        )
    finally:
        engine.drop_temp(raw)
    repeated = engine.fetch(
        f"SELECT {quote(ID_COLUMN)} FROM {into} GROUP BY {quote(ID_COLUMN)} "
        f"HAVING count(*) > 1 ORDER BY {quote(ID_COLUMN)} LIMIT 1"
    )
    if repeated:
        engine.drop_temp(into)
        raise AudienceError(
            name,
            f"the query returns customer {repeated[0][0]!r} more than once with different values; "
            f"return one row per {ID_COLUMN}",
        )


def evaluate_audience(
    con,
    name: str,
    audiences: AudiencesConfig,
    as_of: datetime,
    columns: Mapping[str, str] | None = None,
) -> pl.DataFrame:
    """The members of a segment (`customer_id`) or SQL audience (`customer_id` + its other columns)
    on the driver (materialise_audience keeps them on the engine).

    Segments are compiled against `columns` (column -> DuckDB type), by default the view's real types.
    Run it on `open_read_only(...)` or an Engine."""
    engine = as_engine(con)
    materialise_audience(engine, name, "_audience_rows", audiences, as_of, columns)
    try:
        return pl.from_arrow(engine.read_arrow("SELECT * FROM _audience_rows"))
    finally:
        engine.drop_temp("_audience_rows")
