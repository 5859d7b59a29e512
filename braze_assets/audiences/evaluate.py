"""Run one audience (rule segment or SQL audience) on a locked-down, read-only connection."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path

import duckdb
import polars as pl

from braze_assets import settings
from braze_assets.audiences.columns import ID_COLUMN, SOURCE_VIEW
from braze_assets.audiences.compiler import compile_segment
from braze_assets.audiences.config import AudiencesConfig
from braze_assets.audiences.errors import AudienceError
from braze_assets.audiences.sql_guard import validate_sql_audience
from braze_assets.warehouse import explained_open, memory_limit_error, table_columns

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


def view_columns(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """The real column types of customer_attribute_source, which segments are compiled against at run time."""
    columns = table_columns(con, SOURCE_VIEW)
    if not columns:
        raise AudienceError(
            SOURCE_VIEW,
            "the view does not exist in the warehouse yet; build the Braze attributes first",
            kind="view",
        )
    return columns


def run_limited(
    con: duckdb.DuckDBPyConnection,
    name: str,
    sql: str,
    params: list | None = None,
    *,
    kind: str = "audience",
    what: str = "the query",
) -> pl.DataFrame:
    """Run one query on the audience connection within BRAZE_ASSETS_AUDIENCE_SQL_TIMEOUT_S: every
    query that reads analyst-defined data (the audiences themselves and a campaign's follow-up
    reads of the view) has the same bound."""
    limit = settings.audience_sql_timeout_s()
    fired = threading.Event()

    def stop() -> None:
        fired.set()
        con.interrupt()

    # DuckDB checks for an interrupt between chunks, so a runaway join stops within moments.
    timer = threading.Timer(limit, stop)
    timer.daemon = True
    timer.start()
    try:
        return con.execute(sql, params or []).pl()
    except duckdb.Error as exc:
        if fired.is_set():
            raise AudienceError(
                name,
                f"{what} ran longer than {limit:g} s and was stopped; make it cheaper or raise "
                f"{settings.ENV_AUDIENCE_SQL_TIMEOUT_S}",
                kind=kind,
            ) from None
        raise AudienceError(name, f"DuckDB refused {what}: {exc}", kind=kind) from None
    finally:
        timer.cancel()


_run = run_limited


def evaluate_audience(
    con: duckdb.DuckDBPyConnection,
    name: str,
    audiences: AudiencesConfig,
    as_of: datetime,
    columns: Mapping[str, str] | None = None,
) -> pl.DataFrame:
    """The members of a segment (`customer_id`) or SQL audience (`customer_id` + its other columns).

    Segments are compiled against `columns` (column -> DuckDB type), by default the view's real types.
    Run it on `open_read_only(...)`. Rows without a customer id are dropped; an SQL audience that
    returns one customer twice with different values is an error, since its attributes would be ambiguous.
    """
    if audiences.segment(name) is not None:
        compiled = compile_segment(name, audiences, columns or view_columns(con))
        return _run(con, name, compiled.sql, compiled.bind(as_of)).unique(
            ID_COLUMN, maintain_order=True
        )
    sql_audience = audiences.sql_audience(name)
    if sql_audience is None:
        raise KeyError(f"no segment or SQL audience named {name!r}")
    validate_sql_audience(name, sql_audience.sql)
    frame = _run(con, name, sql_audience.sql)
    if ID_COLUMN not in frame.columns:
        raise AudienceError(
            name,
            f"the query must return a {ID_COLUMN!r} column; it returned {', '.join(frame.columns)}",
        )
    frame = frame.filter(pl.col(ID_COLUMN).is_not_null()).unique(maintain_order=True)
    repeated = frame.filter(pl.col(ID_COLUMN).is_duplicated())
    if repeated.height:
        raise AudienceError(
            name,
            f"the query returns customer {repeated[ID_COLUMN][0]!r} more than once with different values; "
            f"return one row per {ID_COLUMN}",
        )
    return frame
