"""Load Currents files from S3 into DuckDB, exactly once per file, each event once.

`currents_files` is the ledger: one row per (key, etag) ever seen, loaded or quarantined. A file
whose (key, etag) is in the ledger is never read again, so any subset of keys (one partition's, a
late file's, a whole re-listing) can be ingested any number of times. Events are deduplicated on
Braze's event `id` against everything already loaded (Currents is at-least-once), keeping the first
copy; a re-delivered event is the same record, so the lookup only reads the batch's event dates.
Each batch of events and the ledger rows of its files commit in one transaction.

Memory holds at most two batches of `batch_rows` decoded events (one being written, one filling)
plus `workers + 1` files in flight: it depends on file and batch size, never on the bucket.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from typing import TypeVar

import duckdb
import polars as pl

from braze_assets.currents.keys import CurrentsKey, parse_key
from braze_assets.currents.reader import COLUMN_TYPES, COMMON_COLUMNS, JSON_FIELDS, CorruptFileError, decode_file
from braze_assets.currents.s3 import CurrentsBucket, S3Object

FILES_TABLE = "currents_files"
EVENTS_TABLE = "currents_events"
# DuckDB writes whole row groups (122,880 rows) of a batch straight to the database file; what is
# left goes through the WAL and costs about three times the CPU. Two row groups a batch keep that
# rest small; memory holds about two batches (~1 GB at this size).
DEFAULT_BATCH_ROWS = 250_000
DEFAULT_WORKERS = 2

_FILES_DDL = f"""
CREATE TABLE IF NOT EXISTS {FILES_TABLE} (
    key VARCHAR NOT NULL,
    etag VARCHAR NOT NULL,
    size BIGINT NOT NULL,
    event_type VARCHAR NOT NULL,
    event_date DATE NOT NULL,
    status VARCHAR NOT NULL CHECK (status IN ('loaded', 'quarantined')),
    error VARCHAR,
    rows BIGINT NOT NULL,
    inserted BIGINT NOT NULL,
    loaded_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (key, etag)
)"""
_EVENTS_DDL = (
    f"CREATE TABLE IF NOT EXISTS {EVENTS_TABLE} ("
    + ", ".join(f"{column} {COLUMN_TYPES[column]}" for column in COMMON_COLUMNS)
    + ")"
)


@dataclass(frozen=True)
class FileResult:
    key: str
    etag: str
    size: int
    event_type: str
    event_date: date
    status: str  # 'loaded' | 'quarantined'
    error: str | None
    rows: int
    inserted: int = 0


@dataclass
class IngestReport:
    files: list[FileResult] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # already in the ledger with the same etag
    ignored: list[str] = field(default_factory=list)  # not Currents Avro keys

    @property
    def loaded(self) -> list[FileResult]:
        return [f for f in self.files if f.status == "loaded"]

    @property
    def quarantined(self) -> list[FileResult]:
        return [f for f in self.files if f.status == "quarantined"]

    @property
    def rows(self) -> int:
        return sum(f.rows for f in self.loaded)

    @property
    def inserted(self) -> int:
        return sum(f.inserted for f in self.loaded)

    @property
    def duplicates(self) -> int:
        return self.rows - self.inserted

    @property
    def event_dates(self) -> list[date]:
        return sorted({f.event_date for f in self.files})


@dataclass
class _Decoded:
    key: CurrentsKey
    etag: str
    size: int
    frame: pl.DataFrame | None
    error: str | None


def ensure_tables(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(_FILES_DDL)
    con.execute(_EVENTS_DDL)


def ingest_objects(
    con: duckdb.DuckDBPyConnection,
    bucket: CurrentsBucket,
    keys: Iterable[str | S3Object],
    *,
    batch_rows: int = DEFAULT_BATCH_ROWS,
    workers: int = DEFAULT_WORKERS,
) -> IngestReport:
    """Load the given objects (keys, or listed S3Objects whose etag spares a request) into DuckDB."""
    ensure_tables(con)
    report = IngestReport()
    todo = _plan(con, keys, report)
    _load(con, bucket, todo, report, batch_rows=batch_rows, workers=workers)
    return report


def _load(
    con: duckdb.DuckDBPyConnection,
    bucket: CurrentsBucket,
    todo: list[tuple[CurrentsKey, str | None]],
    report: IngestReport,
    *,
    batch_rows: int,
    workers: int,
) -> None:
    def fetch_and_decode(job: tuple[CurrentsKey, str | None]) -> _Decoded | str:
        parsed, if_none_match = job
        fetched = bucket.fetch(parsed.key, if_none_match=if_none_match)
        if fetched is None:
            return parsed.key
        try:
            return _Decoded(parsed, fetched.etag, fetched.size, decode_file(fetched.data, parsed), None)
        except CorruptFileError as error:
            return _Decoded(parsed, fetched.etag, fetched.size, None, error.problem)

    # Decoding holds the GIL, DuckDB does not: one thread writes the previous batch while the others
    # fetch and decode the next one, so at most two batches are in memory. Writing costs about what
    # decoding does, so one DuckDB thread keeps pace; more would only contend for the same cores.
    # The last batch has nothing to overlap with and gets all of DuckDB's threads.
    batch: list[_Decoded] = []
    batch_size = 0
    writing: Future | None = None
    threads = con.execute("SELECT current_setting('threads')").fetchone()[0]
    con.execute("SET threads = 1")
    try:
        with ThreadPoolExecutor(max_workers=max(1, workers)) as pool, ThreadPoolExecutor(max_workers=1) as writer:
            for result in _bounded_map(pool, fetch_and_decode, todo, window=max(1, workers) + 1):
                if isinstance(result, str):
                    report.skipped.append(result)
                    continue
                batch.append(result)
                batch_size += result.frame.height if result.frame is not None else 0
                if batch_size >= batch_rows:
                    if writing is not None:
                        report.files.extend(writing.result())
                    writing = writer.submit(_flush, con, batch)
                    batch, batch_size = [], 0
            if writing is not None:
                report.files.extend(writing.result())
    finally:
        con.execute(f"SET threads = {int(threads)}")
    if batch:
        report.files.extend(_flush(con, batch))


def _plan(
    con: duckdb.DuckDBPyConnection, keys: Iterable[str | S3Object], report: IngestReport
) -> list[tuple[CurrentsKey, str | None]]:
    """The objects to read, each with the ledger etag to read it conditionally against (or None)."""
    wanted: dict[str, tuple[CurrentsKey, str | None]] = {}
    for item in keys:
        key, etag = (item.key, item.etag) if isinstance(item, S3Object) else (item, None)
        parsed = parse_key(key)
        if parsed is None:
            report.ignored.append(key)
        elif key not in wanted:
            wanted[key] = (parsed, etag)
    known = _ledger_etags(con, list(wanted))
    todo = []
    for key, (parsed, etag) in wanted.items():
        if etag is not None and etag in known.get(key, ()):
            report.skipped.append(key)
        else:
            # Without a listed etag, a ledger etag turns the read into a conditional GET.
            todo.append((parsed, None if etag is not None else known.get(key, [None])[-1]))
    return todo


def _flush(con: duckdb.DuckDBPyConnection, batch: list[_Decoded]) -> list[FileResult]:
    frames = [d.frame for d in batch if d.frame is not None and d.frame.height]
    events = pl.concat(frames, how="vertical") if frames else None
    con.begin()
    try:
        inserted: dict[str, int] = {}
        if events is not None:
            inserted = _insert_new_events(con, events)
        results = [_file_result(d, inserted.get(d.key.key, 0)) for d in batch]
        _write_ledger(con, results)
        con.commit()
    except BaseException:
        con.rollback()
        raise
    return results


def _insert_new_events(con: duckdb.DuckDBPyConnection, events: pl.DataFrame) -> dict[str, int]:
    """Insert the events whose id is not loaded yet, the batch's first copy of each; returns events
    inserted per source key."""
    # A mask rather than a filtered copy: copies inside one batch are rare, the batch is large.
    events = events.with_columns(_first=pl.col("event_id").is_first_distinct())
    per_file = dict(events.lazy().filter("_first").group_by("source_key").len().collect().iter_rows())
    # Files' constant columns as dictionaries and string views: DuckDB ingests them far cheaper.
    batch = events.with_columns(pl.col("event_type", "source_key").cast(pl.Categorical)).to_arrow(
        compat_level=pl.CompatLevel.newest()
    )
    # A re-delivered event is the same record, so its copies share `event_date`: looking only at the
    # batch's dates keeps the lookup's cost bound to those days, not to the whole table.
    days = [events["event_date"].min(), events["event_date"].max()]
    con.register("_currents_batch", batch)
    try:
        # One probe of the loaded ids; the insert then only needs the (usually tiny) set of repeats.
        con.execute(
            f"""CREATE OR REPLACE TEMP TABLE _currents_known AS
            SELECT event_id, source_key::VARCHAR AS source_key FROM _currents_batch
            SEMI JOIN (SELECT event_id FROM {EVENTS_TABLE} WHERE event_date BETWEEN ? AND ?) USING (event_id)
            WHERE _first""",
            days,
        )
        columns = ", ".join(_insert_expression(c) for c in COMMON_COLUMNS)
        con.execute(
            f"""INSERT INTO {EVENTS_TABLE} SELECT {columns} FROM _currents_batch
            ANTI JOIN _currents_known USING (event_id) WHERE _first"""
        )
        known = con.execute("SELECT source_key, count(*) FROM _currents_known GROUP BY ALL").fetchall()
        con.execute("DROP TABLE _currents_known")
    finally:
        con.unregister("_currents_batch")
    for key, count in known:
        per_file[key] -= count
    return per_file


def _insert_expression(column: str) -> str:
    if column in JSON_FIELDS:  # Braze promises JSON text; anything else is kept as a JSON string
        return f"CASE WHEN json_valid({column}) THEN {column}::JSON ELSE to_json({column}) END"
    if column in ("event_type", "source_key"):
        return f"{column}::VARCHAR"
    return column


def _file_result(decoded: _Decoded, inserted: int) -> FileResult:
    return FileResult(
        key=decoded.key.key,
        etag=decoded.etag,
        size=decoded.size,
        event_type=decoded.key.event_type,
        event_date=decoded.key.date,
        status="loaded" if decoded.error is None else "quarantined",
        error=decoded.error,
        rows=decoded.frame.height if decoded.frame is not None else 0,
        inserted=inserted,
    )


def _write_ledger(con: duckdb.DuckDBPyConnection, results: list[FileResult]) -> None:
    rows = pl.DataFrame(
        [r.__dict__ for r in results],
        schema={"key": pl.String, "etag": pl.String, "size": pl.Int64, "event_type": pl.String,
                "event_date": pl.Date, "status": pl.String, "error": pl.String, "rows": pl.Int64,
                "inserted": pl.Int64},
    ).with_columns(loaded_at=pl.lit(datetime.now(timezone.utc)))
    con.register("_currents_ledger", rows)
    try:
        con.execute(f"INSERT OR REPLACE INTO {FILES_TABLE} SELECT * FROM _currents_ledger")
    finally:
        con.unregister("_currents_ledger")


def _ledger_etags(con: duckdb.DuckDBPyConnection, keys: list[str]) -> dict[str, list[str]]:
    if not keys:
        return {}
    wanted = pl.DataFrame({"key": keys})
    con.register("_currents_wanted", wanted)
    try:
        rows = con.execute(
            f"""SELECT f.key, f.etag FROM {FILES_TABLE} f SEMI JOIN _currents_wanted w ON w.key = f.key
            ORDER BY f.loaded_at"""
        ).fetchall()
    finally:
        con.unregister("_currents_wanted")
    known: dict[str, list[str]] = {}
    for key, etag in rows:
        known.setdefault(key, []).append(etag)
    return known


_T = TypeVar("_T")
_R = TypeVar("_R")


def _bounded_map(pool: ThreadPoolExecutor, fn: Callable[[_T], _R], items: Iterable[_T], window: int) -> Iterator[_R]:
    """pool.map in input order, with at most `window` items in flight (memory stays per-file)."""
    pending: deque = deque()
    for item in items:
        pending.append(pool.submit(fn, item))
        if len(pending) >= window:
            yield pending.popleft().result()
    while pending:
        yield pending.popleft().result()
