"""Load one declared source wherever it lives; Postgres, Delta and Iceberg sources (and files asked
to) incrementally by updated_at.

An incremental load reads only the rows whose updated_at is after the stored watermark minus
the late-arriving tolerance, and merges them into `raw_<name>` by primary key: a changed row
replaces the old one (keeping its `_row_number`, so downstream ordering matches a full reload), a
new row is appended, and a soft-deleted row is removed. Hard deletes cannot be seen in changed rows:
a key scan (every primary key, read on the configured cadence) removes raw rows whose key is gone.
Because identity and the customer 360 are built from `raw_<name>`, a removed row leaves them on the
next run.

Postgres filters the window in its query; a Delta or Iceberg reader gets it as its own filter;
files are read whole and the window is applied to them (`locations.stage` makes each `path` one
DuckDB relation). The merge that follows is the same for all.

The watermark lives in the warehouse (`_source_loads`), written in the same transaction as the
merge, so a failed load leaves both the raw table and the watermark as they were. A first load, a
changed source definition, a missing raw table or `full_reload` reads everything.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
from psycopg import sql

from braze_assets.config.sources import SourceConfig, TransactionSourceConfig
from braze_assets.sources.lakehouse import Since
from braze_assets.sources.load import (
    LoadReport,
    SourceError,
    StagedFile,
    check_columns,
    check_loaded,
    count_duplicates,
    load_files,
    load_relation,
    numbered_rows,
    read_error,
    reader_sql,
    text_columns,
)
from braze_assets.sources.locations import Staged, stage
from braze_assets.sources.postgres import TIME_TYPES, PostgresSource, Window
from braze_assets.warehouse import (
    drop_table_or_view,
    quote,
    quote_literal,
    table_columns,
    table_exists,
    transaction,
)

STATE_TABLE = "_source_loads"
FALSY = ("", "false", "f", "0", "no", "n")


@dataclass
class SourceLoad:
    """What one load did: how it read the source and how many rows it moved."""

    report: LoadReport
    mode: str  # "full" or "incremental"
    rows_read: int
    rows_deleted: int = 0
    keys_scanned: int | None = None
    watermark: str | None = None
    reason: str | None = None  # why a source declared incremental was read in full
    # Rows the reader returned before the updated_at window (files are read whole; a Delta or
    # Iceberg read skips what its statistics rule out). None when it is rows_read.
    rows_scanned: int | None = None
    # For a Delta or Iceberg table: data files read of the table's data files.
    files_read: int | None = None
    files_total: int | None = None
    notes: list[str] = field(default_factory=list)


def raw_table_name(entry: SourceConfig | TransactionSourceConfig) -> str:
    return f"raw_{entry.name}" if isinstance(entry, SourceConfig) else f"raw_txn_{entry.name}"


def required_columns(entry: SourceConfig | TransactionSourceConfig) -> list[str]:
    if isinstance(entry, SourceConfig):
        extra = [entry.load.soft_delete_column] if entry.load.soft_delete_column else []
        return list(dict.fromkeys([entry.primary_key, entry.updated_at, *entry.columns, *extra]))
    optional = [entry.items, entry.channel]
    return [
        entry.primary_key,
        entry.customer_key,
        entry.ordered_at,
        entry.revenue,
        *filter(None, optional),
    ]


def soft_deleted(entry: SourceConfig | TransactionSourceConfig) -> str | None:
    """SQL over a raw row: true when the soft-delete column marks it deleted."""
    if not isinstance(entry, SourceConfig) or not entry.load.soft_delete_column:
        return None
    column = quote(entry.load.soft_delete_column)
    falsy = ", ".join(quote_literal(v) for v in FALSY)
    return f"coalesce(lower(trim({column})) NOT IN ({falsy}), false)"


def fingerprint(entry: SourceConfig) -> str:
    """What a watermark is valid for: a change here makes the next load a full one."""
    basis = {
        "postgres": entry.postgres.model_dump() if entry.postgres else None,
        "primary_key": entry.primary_key,
        "updated_at": entry.updated_at,
        "soft_delete_column": entry.load.soft_delete_column,
    }
    if entry.path is not None:
        # Only for paths, so the fingerprints of existing Postgres watermarks stay as they were.
        basis.update(path=entry.path, format=entry.format)
    return hashlib.sha256(json.dumps(basis, sort_keys=True).encode()).hexdigest()[:16]


# -- state ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LoadState:
    fingerprint: str
    watermark: str | None
    watermark_type: str
    last_key_scan_at: datetime
    # Kept up to date by each merge, so an incremental load need not count keys over the table.
    duplicate_keys: int


STATE_COLUMNS = (
    "source VARCHAR PRIMARY KEY, fingerprint VARCHAR, watermark VARCHAR, watermark_type VARCHAR, "
    "last_key_scan_at TIMESTAMP, duplicate_keys BIGINT, last_load_at TIMESTAMP, "
    "last_mode VARCHAR, last_rows_read BIGINT"
)


def read_state(con: duckdb.DuckDBPyConnection, source: str) -> LoadState | None:
    if not table_exists(con, STATE_TABLE):
        return None
    row = con.execute(
        f"SELECT fingerprint, watermark, watermark_type, last_key_scan_at, duplicate_keys "
        f"FROM {STATE_TABLE} WHERE source = ?",
        [source],
    ).fetchone()
    return LoadState(*row) if row else None


def _write_state(
    con: duckdb.DuckDBPyConnection,
    source: str,
    state: LoadState,
    mode: str,
    rows_read: int,
    now: datetime,
) -> None:
    con.execute(f"CREATE TABLE IF NOT EXISTS {STATE_TABLE} ({STATE_COLUMNS})")
    con.execute(f"DELETE FROM {STATE_TABLE} WHERE source = ?", [source])
    con.execute(
        f"INSERT INTO {STATE_TABLE} VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            source,
            state.fingerprint,
            state.watermark,
            state.watermark_type,
            state.last_key_scan_at,
            state.duplicate_keys,
            now,
            mode,
            rows_read,
        ],
    )


def forget_state(con: duckdb.DuckDBPyConnection, source: str) -> None:
    if table_exists(con, STATE_TABLE):
        con.execute(f"DELETE FROM {STATE_TABLE} WHERE source = ?", [source])


# -- entry point ------------------------------------------------------------------------------


def load_source(
    con: duckdb.DuckDBPyConnection,
    entry: SourceConfig | TransactionSourceConfig,
    data_dir: Path,
    *,
    full_reload: bool = False,
    now: datetime | None = None,
) -> SourceLoad:
    now = now or datetime.now(UTC).replace(tzinfo=None)
    table = raw_table_name(entry)
    if entry.postgres is not None:
        pg = PostgresSource(entry.name, entry.postgres)
        if isinstance(entry, SourceConfig) and entry.incremental:
            return _postgres_incremental(con, entry, pg, table, full_reload=full_reload, now=now)
    elif isinstance(entry, SourceConfig) and entry.incremental:
        return _path_incremental(con, entry, table, data_dir, full_reload=full_reload, now=now)
    if isinstance(entry, SourceConfig):
        # A source read in full drops any watermark an earlier incremental setup left, so going
        # back to incremental starts with a full load.
        forget_state(con, entry.name)
    if entry.postgres is not None:
        return _postgres_full(con, entry, pg, table, now=now, track=False)
    with stage(con, entry, data_dir) as staged:
        report = load_relation(
            con,
            source=entry.name,
            table=table,
            relation=staged.relation,
            origin=staged.origin,
            columns=staged.columns,
            location=staged.location,
            required_columns=required_columns(entry),
            primary_key=entry.primary_key,
            exclude=soft_deleted(entry),
            files=staged.files,
        )
    return SourceLoad(report, "full", report.rows)


def _full_reason(
    con: duckdb.DuckDBPyConnection, entry: SourceConfig, table: str, full_reload: bool
) -> tuple[LoadState | None, str | None]:
    """The stored state, and why this load must read everything (None: it may be incremental)."""
    state = read_state(con, entry.name)
    reason = None
    if full_reload:
        reason = "full reload requested"
    elif state is None or state.watermark is None:
        reason = "first load"
    elif state.fingerprint != fingerprint(entry):
        reason = "the source definition changed"
    elif not table_exists(con, table):
        reason = f"{table} is missing"
    return state, reason


# -- files, object storage, Delta and Iceberg ----------------------------------------------------

# Files carry updated_at as text: an ISO time with an offset is taken at that offset, one without
# as UTC; a date is its midnight. A value that is no time at all is NULL, and such rows are passed
# on at every load (they cannot be shown unchanged).
_OFFSET = r"[T ]\d\d?:\d\d.*([+-]\d\d(:?\d\d)?|Z)$"


def updated_expr(column: str) -> str:
    """SQL turning a text updated_at into a naive UTC TIMESTAMP (NULL when it is no time)."""
    c = quote(column)
    return (
        f"(CASE WHEN regexp_matches(trim({c}), {quote_literal(_OFFSET)}) "
        f"THEN timezone('UTC', TRY_CAST(trim({c}) AS TIMESTAMPTZ)) "
        f"ELSE TRY_CAST(trim({c}) AS TIMESTAMP) END)"
    )


def _lower_bound(con: duckdb.DuckDBPyConnection, watermark: str, minutes: float) -> datetime:
    stamp = con.execute("SELECT CAST(? AS TIMESTAMP)", [watermark]).fetchone()[0]
    return stamp - timedelta(minutes=minutes)


def _path_incremental(
    con: duckdb.DuckDBPyConnection,
    entry: SourceConfig,
    table: str,
    data_dir: Path,
    *,
    full_reload: bool,
    now: datetime,
) -> SourceLoad:
    state, reason = _full_reason(con, entry, table, full_reload)
    if reason is None:
        assert state is not None and state.watermark is not None
        after = _lower_bound(con, state.watermark, entry.load.late_tolerance_minutes)
        with stage(con, entry, data_dir, since=Since(entry.updated_at, after)) as staged:
            check_columns(entry.name, staged.location, staged.columns, required_columns(entry))
            known = [c for c in table_columns(con, table) if not c.startswith("_")]
            if known == staged.columns:
                return _path_merge(con, entry, table, staged, state, after, now)
        # A column was added, dropped or reordered: merged rows would not line up.
        reason = "the columns changed"
    with stage(con, entry, data_dir) as staged:
        return _path_full(con, entry, table, staged, now=now, reason=reason)


def _path_full(
    con: duckdb.DuckDBPyConnection,
    entry: SourceConfig,
    table: str,
    staged: Staged,
    *,
    now: datetime,
    reason: str,
) -> SourceLoad:
    check_columns(entry.name, staged.location, staged.columns, required_columns(entry))
    raw, building = quote(table), quote(f"{table}__building")
    try:
        with transaction(con):
            con.execute(
                f"CREATE OR REPLACE TABLE {building} AS "
                f"{numbered_rows(staged.relation, staged.origin, staged.columns)}"
            )
            read = con.execute(f"SELECT count(*) FROM {building}").fetchone()[0]
            watermark = con.execute(
                f"SELECT CAST(max({updated_expr(entry.updated_at)}) AS VARCHAR) FROM {building}"
            ).fetchone()[0]
            if soft_deleted(entry):
                con.execute(f"DELETE FROM {building} WHERE {soft_deleted(entry)}")
            drop_table_or_view(con, table)
            con.execute(f"ALTER TABLE {building} RENAME TO {raw}")
            duplicates = count_duplicates(con, table, entry.primary_key)
            state = LoadState(fingerprint(entry), watermark, "timestamp", now, duplicates)
            _write_state(con, entry.name, state, "full", read, now)
    except duckdb.Error as exc:
        raise read_error(entry.name, staged.files, staged.location, exc) from None
    report = _check(con, entry, table, staged.location, staged.columns, duplicates)
    scanned = staged.rows_scanned if staged.rows_scanned not in (None, read) else None
    return SourceLoad(
        report,
        "full",
        read,
        watermark=watermark,
        reason=reason,
        rows_scanned=scanned,
        files_read=staged.files_read,
        files_total=staged.files_total,
    )


def _check(
    con: duckdb.DuckDBPyConnection,
    entry: SourceConfig,
    table: str,
    location: str,
    columns: list[str],
    duplicates: int,
) -> LoadReport:
    """`check_loaded` for a source's loaded table, with the duplicate keys its load counted."""
    return check_loaded(
        con,
        source=entry.name,
        table=table,
        location=location,
        columns=columns,
        required_columns=required_columns(entry),
        primary_key=entry.primary_key,
        duplicates=duplicates,
    )


def _path_merge(
    con: duckdb.DuckDBPyConnection,
    entry: SourceConfig,
    table: str,
    staged: Staged,
    state: LoadState,
    after: datetime,
    now: datetime,
) -> SourceLoad:
    every = entry.load.key_scan_every_hours
    scan_due = every is not None and (now - state.last_key_scan_at).total_seconds() >= every * 3600
    updated = updated_expr(entry.updated_at)
    try:
        with transaction(con):
            # Rows numbered in reading order, then only the changed ones (and those whose
            # updated_at is no time) kept.
            con.execute(
                "CREATE OR REPLACE TEMP TABLE _source_stage AS SELECT * EXCLUDE (_row_number), "
                "_row_number AS _stage_order FROM "
                f"({numbered_rows(staged.relation, staged.origin, staged.columns)}) "
                f"WHERE {updated} > CAST({quote_literal(after.isoformat(sep=' '))} AS TIMESTAMP) "
                f"OR {updated} IS NULL"
            )
            read, newest = con.execute(
                f"SELECT count(*), CAST(max({updated}) AS VARCHAR) FROM _source_stage"
            ).fetchone()
            scanned = staged.rows_scanned
            if scanned is None:
                scanned = con.execute(f"SELECT count(*) FROM {staged.relation}").fetchone()[0]
            merged = _merge_stage(
                con,
                entry,
                table,
                staged.columns,
                state,
                newest=newest,
                watermark_type="timestamp",
                keys=staged.keys(entry.primary_key) if scan_due and staged.keys else None,
                now=now,
                read=read,
            )
    except duckdb.Error as exc:
        raise read_error(entry.name, staged.files, staged.location, exc) from None
    report = _check(con, entry, table, staged.location, staged.columns, merged.duplicates)
    merged.scanned_rows = scanned
    return merged.load(report, staged)


# -- postgres ---------------------------------------------------------------------------------


def _check_columns(
    pg: PostgresSource, entry: SourceConfig | TransactionSourceConfig, types: dict[str, str]
) -> None:
    missing = [c for c in required_columns(entry) if c not in types]
    if missing:
        raise pg.error(
            f"column(s) {', '.join(missing)} declared in the config are missing "
            f"(it has: {', '.join(types)})"
        )


def _max_updated(pg: PostgresSource, conn, column: str, window: Window | None) -> str | None:
    select = pg.select(
        sql.SQL("CAST(max({}) AS text)").format(sql.Identifier(column)),
        window.condition() if window else None,
    )
    return conn.execute(select).fetchone()[0]


def _postgres_full(
    con: duckdb.DuckDBPyConnection,
    entry: SourceConfig | TransactionSourceConfig,
    pg: PostgresSource,
    table: str,
    *,
    now: datetime,
    track: bool,
    reason: str | None = None,
) -> SourceLoad:
    with tempfile.TemporaryDirectory(prefix=f"source_{entry.name}_") as tmp:
        rows_file = Path(tmp) / "rows.csv"
        with pg.connect() as conn:
            types = pg.column_types(conn)
            _check_columns(pg, entry, types)
            watermark_type = types.get(getattr(entry, "updated_at", ""), "")
            if track and watermark_type not in TIME_TYPES:
                raise pg.error(_not_a_time(entry, watermark_type))
            # Ordered by key so row numbers, and everything ordered by them, match across loads.
            pg.copy_csv(conn, pg.select(order_by=entry.primary_key), rows_file)
            watermark = _max_updated(pg, conn, entry.updated_at, None) if track else None
        if not track:
            report = load_files(
                con,
                source=entry.name,
                table=table,
                files=[StagedFile(rows_file, entry.location)],
                fmt="csv",
                location=entry.location,
                required_columns=required_columns(entry),
                primary_key=entry.primary_key,
                exclude=soft_deleted(entry),
                columns=list(types),
            )
            return SourceLoad(report, "full", report.rows)
        raw = quote(table)
        building = quote(f"{table}__building")
        with transaction(con):
            # One pass from the COPY output; its rows come ordered by key, so _row_number is too
            # (numbered before soft-deleted rows are dropped, as for files).
            con.execute(
                f"CREATE OR REPLACE TABLE {building} AS SELECT "
                f"{text_columns(list(types))}, {quote_literal(entry.location)} AS _source_file, "
                "CAST(row_number() OVER () AS BIGINT) + 1 AS _row_number "
                f"FROM {reader_sql([rows_file], 'csv', list(types))}"
            )
            read = con.execute(f"SELECT count(*) FROM {building}").fetchone()[0]
            if soft_deleted(entry):
                con.execute(f"DELETE FROM {building} WHERE {soft_deleted(entry)}")
            drop_table_or_view(con, table)
            con.execute(f"ALTER TABLE {building} RENAME TO {raw}")
            duplicates = count_duplicates(con, table, entry.primary_key)
            state = LoadState(fingerprint(entry), watermark, watermark_type, now, duplicates)
            _write_state(con, entry.name, state, "full", read, now)
    report = _report(con, entry, table, list(types), pg, duplicates)
    return SourceLoad(report, "full", read, watermark=watermark, reason=reason)


def _not_a_time(entry: SourceConfig, found: str) -> str:
    return (
        f"incremental loads need updated_at column {entry.updated_at!r} to be a date or timestamp "
        f"(it is {found or 'missing'}); set load.mode: full"
    )


def _stage(con: duckdb.DuckDBPyConnection, rows_file: Path, columns: list[str], origin: str) -> int:
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE _source_stage AS SELECT {text_columns(columns)}, "
        f"{quote_literal(origin)} AS _source_file, "
        "CAST(row_number() OVER () AS BIGINT) AS _stage_order "
        f"FROM {reader_sql([rows_file], 'csv', columns)}"
    )
    return con.execute("SELECT count(*) FROM _source_stage").fetchone()[0]


def _report(
    con: duckdb.DuckDBPyConnection,
    entry: SourceConfig,
    table: str,
    columns: list[str],
    pg: PostgresSource,
    duplicates: int,
) -> LoadReport:
    try:
        return _check(con, entry, table, entry.location, columns, duplicates)
    except SourceError as exc:
        raise pg.error(str(exc).split(": ", 1)[-1]) from None


def _postgres_incremental(
    con: duckdb.DuckDBPyConnection,
    entry: SourceConfig,
    pg: PostgresSource,
    table: str,
    *,
    full_reload: bool,
    now: datetime,
) -> SourceLoad:
    state, reason = _full_reason(con, entry, table, full_reload)
    if reason is not None:
        return _postgres_full(con, entry, pg, table, now=now, track=True, reason=reason)
    assert state is not None and state.watermark is not None

    every = entry.load.key_scan_every_hours
    scan_due = every is not None and (now - state.last_key_scan_at).total_seconds() >= every * 3600
    key = entry.primary_key
    with tempfile.TemporaryDirectory(prefix=f"source_{entry.name}_") as tmp:
        rows_file, keys_file = Path(tmp) / "rows.csv", Path(tmp) / "keys.csv"
        with pg.connect() as conn:
            types = pg.column_types(conn)
            _check_columns(pg, entry, types)
            if types[entry.updated_at] not in TIME_TYPES:
                raise pg.error(_not_a_time(entry, types[entry.updated_at]))
            known = [c for c in table_columns(con, table) if not c.startswith("_")]
            if known != list(types):
                # A column was added, dropped or reordered: merged rows would not line up.
                return _postgres_full(
                    con, entry, pg, table, now=now, track=True, reason="the columns changed"
                )
            window = Window(
                entry.updated_at,
                types[entry.updated_at],
                state.watermark,
                entry.load.late_tolerance_minutes,
            )
            pg.copy_csv(conn, pg.select(where=window.condition(), order_by=key), rows_file)
            newest = _max_updated(pg, conn, entry.updated_at, window)
            if scan_due:
                pg.copy_csv(
                    conn,
                    pg.select(
                        sql.SQL("CAST({} AS text) AS {}").format(
                            sql.Identifier(key), sql.Identifier(key)
                        )
                    ),
                    keys_file,
                )
        with transaction(con):
            read = _stage(con, rows_file, list(types), entry.location)
            merged = _merge_stage(
                con,
                entry,
                table,
                list(types),
                state,
                newest=newest,
                watermark_type=types[entry.updated_at],
                keys=reader_sql([keys_file], "csv", [key]) if scan_due else None,
                now=now,
                read=read,
            )
    report = _report(con, entry, table, list(types), pg, merged.duplicates)
    return merged.load(report)


@dataclass
class _Merged:
    read: int
    deleted: int
    scanned: int | None
    watermark: str
    duplicates: int
    scanned_rows: int | None = None

    def load(self, report: LoadReport, staged: Staged | None = None) -> SourceLoad:
        return SourceLoad(
            report,
            "incremental",
            self.read,
            rows_deleted=self.deleted,
            keys_scanned=self.scanned,
            watermark=self.watermark,
            rows_scanned=self.scanned_rows,
            files_read=staged.files_read if staged else None,
            files_total=staged.files_total if staged else None,
        )


def _merge_stage(
    con: duckdb.DuckDBPyConnection,
    entry: SourceConfig,
    table: str,
    columns: list[str],
    state: LoadState,
    *,
    newest: str | None,
    watermark_type: str,
    keys: str | None,
    now: datetime,
    read: int,
) -> _Merged:
    """Merge the changed rows in `_source_stage` into `table` by key, remove deleted rows (soft
    deletes; with `keys`, every current key, also keys that are gone) and store the new state.
    Runs inside the caller's transaction."""
    key = entry.primary_key
    raw, k = quote(table), quote(key)
    where = f"WHERE NOT ({soft_deleted(entry)})" if soft_deleted(entry) else ""
    touched = f"WHERE {k} IN (SELECT {k} FROM _source_stage)"
    # A row without a key cannot be matched to the version it replaces; a full load
    # keeps such rows as they are.
    con.execute(f"DELETE FROM _source_stage WHERE {k} IS NULL")
    # Duplicate keys are counted over the touched keys only and the stored total adjusted.
    duplicates_before = count_duplicates(con, table, key, touched)
    # Changed rows keep the row number of the version they replace; new rows follow.
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE _source_merge AS SELECT s.*, o._row_number AS _old "
        f"FROM _source_stage s LEFT JOIN (SELECT {k}, min(_row_number) AS _row_number "
        f"FROM {raw} {touched} GROUP BY {k}) o ON o.{k} = s.{k}"
    )
    top = con.execute(f"SELECT coalesce(max(_row_number), 1) FROM {raw}").fetchone()[0]
    removed = con.execute(f"DELETE FROM {raw} {touched}").fetchone()[0]
    names = ", ".join(quote(c) for c in columns)
    con.execute(
        f"INSERT INTO {raw} ({names}, _source_file, _row_number) "
        f"SELECT {names}, _source_file, coalesce(_old, {int(top)} + "
        f"CAST(sum(CASE WHEN _old IS NULL THEN 1 ELSE 0 END) OVER (ORDER BY _stage_order) AS BIGINT)) "
        f"FROM _source_merge {where}"
    )
    duplicates = state.duplicate_keys - duplicates_before
    duplicates += count_duplicates(con, table, key, touched)
    scanned = None
    if keys is not None:
        con.execute(f"CREATE OR REPLACE TEMP TABLE _source_keys AS SELECT * FROM {keys}")
        scanned = con.execute("SELECT count(*) FROM _source_keys").fetchone()[0]
        gone = (
            f"WHERE {k} IS NOT NULL AND NOT EXISTS "
            f"(SELECT 1 FROM _source_keys x WHERE x.{k} = {raw}.{k})"
        )
        duplicates -= count_duplicates(con, table, key, gone)
        removed += con.execute(f"DELETE FROM {raw} {gone}").fetchone()[0]
    kept_where = f"{where} AND" if where else "WHERE"
    replaced = con.execute(
        f"SELECT count(*) FROM _source_merge {kept_where} _old IS NOT NULL"
    ).fetchone()[0]
    watermark = max(
        [w for w in (state.watermark, newest) if w is not None],
        key=lambda w: _ordered(con, w, watermark_type),
    )
    new_state = LoadState(
        state.fingerprint,
        watermark,
        watermark_type,
        now if keys is not None else state.last_key_scan_at,
        duplicates,
    )
    _write_state(con, entry.name, new_state, "incremental", read, now)
    con.execute("DROP TABLE IF EXISTS _source_stage")
    con.execute("DROP TABLE IF EXISTS _source_merge")
    con.execute("DROP TABLE IF EXISTS _source_keys")
    # Rows that were there and are gone: soft deletes of known rows and key-scan deletes.
    return _Merged(read, removed - replaced, scanned, watermark, duplicates)


def _ordered(con: duckdb.DuckDBPyConnection, value: str, pg_type: str):
    """A watermark as DuckDB orders it (Postgres wrote it in the column's own text form)."""
    target = {"timestamptz": "TIMESTAMPTZ", "timestamp": "TIMESTAMP", "date": "DATE"}[pg_type]
    return con.execute(f"SELECT CAST(? AS {target})", [value]).fetchone()[0]
