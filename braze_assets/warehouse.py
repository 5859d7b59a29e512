"""Small DuckDB helpers shared by the cores: one warehouse file, tables named by contract."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import duckdb

from braze_assets import settings

# A new warehouse file is written in DuckDB 1.5's storage format rather than the default, which
# stays readable by DuckDB 1.0: its DICT_FSST string compression writes Currents events with about a
# fifth less CPU into a smaller file (benchmarks/README.md). The format is fixed when the file is
# created and needs DuckDB >= 1.5 to open, which pyproject.toml pins.
STORAGE_VERSION = "v1.5.0"


def create_if_missing(path: Path | str) -> None:
    """Create an empty warehouse file in STORAGE_VERSION. ATTACH takes the version per file, so
    connections keep DuckDB's default config (one process may not mix configs for one file)."""
    path = Path(path)
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with duckdb.connect() as con:
        con.execute(
            f"ATTACH {quote_literal(str(path))} AS new_warehouse (STORAGE_VERSION '{STORAGE_VERSION}')"
        )
        con.execute("DETACH new_warehouse")


class WarehouseFileError(RuntimeError):
    """The warehouse file cannot be used as it is (a newer DuckDB wrote it, the disk is full)."""


_NEWER = re.compile(
    r"Trying to read a database file with version number (\d+), but we can only read versions? "
    r"(?:between )?(\d+)(?: and (\d+))?"
)
_DISK_FULL = re.compile(
    r'Could not (?:write|truncate|extend|create)[^"]*"([^"]+)"[^:]*: '
    r"(No space left on device|File too large|Disk quota exceeded)"
)


def explain(text: str, path: Path | str | None = None) -> str | None:
    """One line for a DuckDB error about the warehouse file itself, or None for any other."""
    where = f"warehouse {path}" if path is not None else "the warehouse file"
    newer = _NEWER.search(text)
    if newer:
        found, low, high = newer.group(1), newer.group(2), newer.group(3) or newer.group(2)
        return (
            f"{where} was written by a newer DuckDB (storage version {found}; this installation's "
            f"DuckDB {duckdb.__version__} reads versions {low} to {high}): run braze-assets with "
            "the DuckDB version that wrote it, or move the file aside to rebuild the warehouse "
            "from the sources (keep the old file: it holds the identity registry and what Braze "
            "confirmed)"
        )
    full = _DISK_FULL.search(text)
    if full:
        return (
            f"the disk is full: could not write {full.group(1)} ({full.group(2)}); the step's "
            "changes were rolled back and nothing stored before is lost. Free space on that disk "
            "and run again"
        )
    return None


@contextmanager
def explained_open(path: Path | str) -> Iterator[None]:
    """Opening the warehouse file inside this block fails with explain()'s one line (a newer
    DuckDB's file, a full disk) instead of DuckDB's multi-line dump; other errors pass unchanged."""
    try:
        yield
    except duckdb.Error as error:
        message = explain(str(error), path)
        if message is None:
            raise
        raise WarehouseFileError(message) from None


def check_openable(path: Path | str) -> None:
    """Fail with one line before any run when the warehouse file cannot be opened."""
    path = Path(path)
    if not path.exists():
        return
    with explained_open(path):
        duckdb.connect(str(path), read_only=True).close()


class WarehouseSettingError(ValueError):
    """A warehouse setting from the environment that DuckDB does not accept."""


def apply_memory_limit(con: duckdb.DuckDBPyConnection, default: str | None = None) -> None:
    """Cap DuckDB's memory: BRAZE_ASSETS_WAREHOUSE_MEMORY_LIMIT when set, else `default` (Spark
    mode's engine.spark.warehouse_memory_limit), else DuckDB's own (80% of RAM). DuckDB keeps the
    blocks it writes and reads cached up to its memory_limit, so without a cap a long load's RSS
    grows with the table although nothing is needed but the current batch. A SET rather than
    connect config: one process may not open one file with different configs."""
    limit = settings.warehouse_memory_limit() or default
    if limit is None:
        return
    try:
        set_memory_limit(con, limit)
    except duckdb.Error as error:
        raise memory_limit_error(limit, error) from None


def set_memory_limit(con: duckdb.DuckDBPyConnection, limit: str) -> None:
    """SET memory_limit; DuckDB's own error for a size it does not accept."""
    con.execute(f"SET memory_limit = {quote_literal(limit)}")


def quiet_progress(con: duckdb.DuckDBPyConnection) -> None:
    """No DuckDB progress bar: a query over two seconds would draw one on the run's stdout, where
    it lands in the middle of the CLI's output and the run logs."""
    con.execute("SET enable_progress_bar = false")


def memory_limit_error(limit: str, error: Exception) -> WarehouseSettingError:
    """The one message for a memory limit DuckDB refuses, whether given by SET or at connect."""
    return WarehouseSettingError(
        f"{settings.ENV_WAREHOUSE_MEMORY_LIMIT}={limit!r} is not a DuckDB memory size such as '2GB' or "
        f"'512MiB': {str(error).splitlines()[0]}"
    )


@contextmanager
def connect(
    path: Path | str, *, read_only: bool = False, memory_limit: str | None = None
) -> Iterator[duckdb.DuckDBPyConnection]:
    path = Path(path)
    if not read_only:
        create_if_missing(path)
    with explained_open(path):
        con = duckdb.connect(str(path), read_only=read_only)
    try:
        apply_memory_limit(con, memory_limit)
        quiet_progress(con)
        yield con
    finally:
        con.close()


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """Run the block in one transaction: commit on success, roll back on any exit by exception."""
    con.execute("BEGIN TRANSACTION")
    try:
        yield
        con.execute("COMMIT")
    except BaseException:
        # BaseException so a KeyboardInterrupt or cancelled run never leaves a half-written table.
        rollback(con)
        raise


def rollback(con: duckdb.DuckDBPyConnection) -> None:
    """Roll back after an error. A failed COMMIT (the disk filled while writing the WAL) has
    already rolled back, and the error to report is the original one, not DuckDB's "cannot
    rollback - no transaction is active"."""
    try:
        con.execute("ROLLBACK")
    except duckdb.TransactionException:
        pass


def replace_table(
    con: duckdb.DuckDBPyConnection, table: str, query: str, params: list | None = None
) -> None:
    """Build `table` from `query` under a staging name and swap it in, so a failure keeps the old table."""
    staging = f"{table}__building"
    with transaction(con):
        con.execute(f"CREATE OR REPLACE TABLE {quote(staging)} AS {query}", params)
        drop_table_or_view(con, table)
        con.execute(f"ALTER TABLE {quote(staging)} RENAME TO {quote(table)}")


def create_tables(
    con: duckdb.DuckDBPyConnection,
    tables: Mapping[str, str],
    added: Mapping[str, str] | None = None,
) -> None:
    """Create each of `tables` (name -> its columns) that does not exist yet, then give tables
    created before a column was added the `added` columns (name -> columns) they lack.

    Columns are definitions separated by commas, `name TYPE`; a column of `tables` is NOT NULL
    unless its definition says NULL itself (`message VARCHAR NULL` for a nullable one), and a table
    constraint such as `PRIMARY KEY (a, b)` stays as written. An added column is nullable (a new
    column of a table with rows cannot be NOT NULL), so `added` is taken as written."""
    for name, columns in tables.items():
        definitions = ", ".join(
            c if _NULL.search(c) or c.startswith(_TABLE_CONSTRAINTS) else f"{c} NOT NULL"
            for c in column_definitions(columns)
        )
        con.execute(f"CREATE TABLE IF NOT EXISTS {quote(name)} ({definitions})")
    for name, columns in (added or {}).items():
        for column in column_definitions(columns):
            con.execute(f"ALTER TABLE {quote(name)} ADD COLUMN IF NOT EXISTS {column}")


_NULL = re.compile(r"\bNULL\b", re.IGNORECASE)
_TABLE_CONSTRAINTS = ("PRIMARY KEY", "UNIQUE", "CHECK", "FOREIGN KEY")


def column_definitions(columns: str) -> list[str]:
    """`columns` split at the commas outside parentheses (a CHECK or a key list holds some)."""
    parts, depth, start = [], 0, 0
    for i, c in enumerate(columns):
        depth += {"(": 1, ")": -1}.get(c, 0)
        if c == "," and depth == 0:
            parts.append(columns[start:i])
            start = i + 1
    parts.append(columns[start:])
    return [p.strip() for p in parts if p.strip()]


def table_exists(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    return bool(
        con.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'main' AND table_name = ?",
            [name],
        ).fetchone()[0]
    )


def drop_table_or_view(con: duckdb.DuckDBPyConnection, name: str) -> None:
    """Drop `name` whichever it is: in Spark mode a source's raw table is a view of the Parquet
    files Spark wrote (defs/sources), and a later DuckDB load replaces it with a table (DuckDB
    refuses DROP TABLE on a view)."""
    kind = con.execute(
        "SELECT table_type FROM information_schema.tables WHERE table_schema = 'main' AND table_name = ?",
        [name],
    ).fetchone()
    if kind is not None:
        con.execute(f"DROP {'VIEW' if kind[0] == 'VIEW' else 'TABLE'} {quote(name)}")


def table_columns(con: duckdb.DuckDBPyConnection, name: str) -> dict[str, str]:
    rows = con.execute(
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = 'main' AND table_name = ? ORDER BY ordinal_position",
        [name],
    ).fetchall()
    return dict(rows)


def row_count(con: duckdb.DuckDBPyConnection, name: str) -> int:
    return con.execute(f"SELECT count(*) FROM {quote(name)}").fetchone()[0]


def quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def quote_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"
