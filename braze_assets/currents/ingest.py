"""Load Currents files from S3 into DuckDB, exactly once per file, each event once.

`currents_files` is the ledger: one row per (key, etag) ever seen, loaded or quarantined. A file
whose (key, etag) is in the ledger is never read again, so any subset of keys (one partition's, a
late file's, a whole re-listing) can be ingested any number of times. Events are deduplicated on
(event type, Braze event `id`) against everything already loaded (Currents is at-least-once),
keeping the first copy: within a chunk, across the files of a day and across days. The type is part
of the key because ids are not unique across types in practice (every one of Braze's public sample
files carries the same `id`); keying on `id` alone would silently drop all but one of them. A
re-delivered event is the same record, so the lookup only reads loaded events of the chunk's event
dates and types. Each batch of events and the ledger rows of its files commit in one transaction.

Memory holds a few chunks of decoded events (a quarter batch each: one being written, two queued,
one filling) plus `workers + 1` files in flight: it depends on file and batch size, never on the
bucket.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, TypeVar

import duckdb
import polars as pl

from braze_assets import tables
from braze_assets.currents.keys import CurrentsKey, parse_key
from braze_assets.currents.reader import (
    COLUMN_TYPES,
    COMMON_COLUMNS,
    JSON_FIELDS,
    CorruptFileError,
    decode_file,
)
from braze_assets.currents.s3 import CurrentsBucket, S3Object
from braze_assets.warehouse import create_tables, rollback

if TYPE_CHECKING:
    import pyarrow as pa

FILES_TABLE = "currents_files"
EVENTS_TABLE = tables.CURRENTS_EVENTS
# DuckDB writes whole row groups (122,880 rows) of a batch straight to the database file; what is
# left at commit goes through the WAL and costs about three times the CPU. Two row groups a batch
# keep that rest small.
DEFAULT_BATCH_ROWS = 250_000
DEFAULT_WORKERS = 2
_CHUNKS_PER_BATCH = 4
_WRITES_IN_FLIGHT = 2  # chunks queued for the writer; bounds memory to a few chunks, not batches
# One DuckDB thread (see _load); whole row groups go to the database file as soon as they fill,
# during the inserts, rather than all at commit.
_LOAD_SETTINGS = {"threads": 1, "write_buffer_row_group_count": 1}

# The events table's columns as warehouse.create_tables (and Engine.create_table) take them.
EVENTS_COLUMNS = ", ".join(f"{column} {COLUMN_TYPES[column]}" for column in COMMON_COLUMNS)
_TABLES = {
    FILES_TABLE: "key VARCHAR, etag VARCHAR, size BIGINT, event_type VARCHAR, event_date DATE, "
    "status VARCHAR NOT NULL CHECK (status IN ('loaded', 'quarantined')), error VARCHAR NULL, "
    "rows BIGINT, inserted BIGINT, loaded_at TIMESTAMPTZ, PRIMARY KEY (key, etag)",
    EVENTS_TABLE: EVENTS_COLUMNS,
}


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

    @property
    def rows(self) -> int:
        return self.frame.height if self.frame is not None else 0

    def ledger_row(self) -> FileResult:
        """Its ledger facts, counting no events inserted yet."""
        return FileResult(
            key=self.key.key,
            etag=self.etag,
            size=self.size,
            event_type=self.key.event_type,
            event_date=self.key.date,
            status="loaded" if self.error is None else "quarantined",
            error=self.error,
            rows=self.rows,
        )


def ensure_tables(con: duckdb.DuckDBPyConnection) -> None:
    create_tables(con, _TABLES)


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
            return _Decoded(
                parsed, fetched.etag, fetched.size, decode_file(fetched.data, parsed), None
            )
        except CorruptFileError as error:
            return _Decoded(parsed, fetched.etag, fetched.size, None, error.problem)

    # Decoding holds the GIL, DuckDB does not: one thread writes while the others fetch and decode.
    # A batch is written as it arrives, in chunks, inside its transaction, so DuckDB starts with the
    # first chunk and ends soon after the last file is decoded (writing only whole batches left one
    # core idle while the first batch decoded and again while the last one was written). DuckDB's
    # own threads would only contend for the same cores and cost more CPU per row.
    chunk_rows = max(1, batch_rows // _CHUNKS_PER_BATCH)
    writer = _Writer(con)
    writes: deque[Future] = deque()
    settings = {
        name: con.execute(f"SELECT current_setting('{name}')").fetchone()[0]
        for name in _LOAD_SETTINGS
    }
    for name, value in _LOAD_SETTINGS.items():
        con.execute(f"SET {name} = {value}")

    def submit(pool: ThreadPoolExecutor, fn: Callable, *args) -> None:
        writes.append(pool.submit(fn, *args))
        while len(writes) > _WRITES_IN_FLIGHT:
            report.files.extend(writes.popleft().result() or ())

    try:
        with (
            ThreadPoolExecutor(max_workers=max(1, workers)) as pool,
            ThreadPoolExecutor(max_workers=1) as serial,
        ):
            try:
                batch: list[FileResult] = []
                chunk: list[_Decoded] = []
                batch_size = chunk_size = 0
                for result in _bounded_map(
                    pool, fetch_and_decode, todo, window=max(1, workers) + 1
                ):
                    if isinstance(result, str):
                        report.skipped.append(result)
                        continue
                    # The batch keeps only the ledger facts; the frame goes with its chunk.
                    batch.append(result.ledger_row())
                    chunk.append(result)
                    batch_size += result.rows
                    chunk_size += result.rows
                    if chunk_size >= chunk_rows or batch_size >= batch_rows:
                        submit(serial, writer.append, _Chunk.of(chunk))
                        chunk, chunk_size = [], 0
                    if batch_size >= batch_rows:
                        submit(serial, writer.commit, batch)
                        batch, batch_size = [], 0
                if batch:
                    submit(serial, writer.append, _Chunk.of(chunk))
                    submit(serial, writer.commit, batch)
                while writes:
                    report.files.extend(writes.popleft().result() or ())
            except BaseException:
                serial.shutdown(cancel_futures=True)
                raise
    finally:
        writer.abort()
        for name, value in settings.items():
            con.execute(f"SET {name} = '{value}'")


class _Writer:
    """Writes on a single thread: chunks of decoded files into the open transaction, then the
    batch's ledger rows and the commit. After a failure it rolls back and refuses the rest of the
    batch, so no batch commits without all of its events."""

    def __init__(self, con: duckdb.DuckDBPyConnection):
        self._con = con
        self._open = False
        self._failed: BaseException | None = None
        self._inserted: dict[str, int] = {}

    def append(self, chunk: _Chunk | None) -> None:
        if chunk is not None:
            self._run(lambda: self._inserted.update(_insert_new_events(self._con, chunk)))

    def commit(self, batch: list[FileResult]) -> list[FileResult]:
        results = [replace(r, inserted=self._inserted.get(r.key, 0)) for r in batch]

        def finish() -> None:
            _write_ledger(self._con, results)
            self._con.commit()
            self._open = False
            self._inserted = {}

        self._run(finish)
        return results

    def abort(self) -> None:
        if self._open:
            self._open = False
            rollback(self._con)

    def _run(self, step: Callable[[], object]) -> None:
        if self._failed is not None:
            raise RuntimeError("an earlier write of this batch failed") from self._failed
        try:
            if not self._open:
                self._con.begin()
                self._open = True
            step()
        except BaseException as error:
            self._failed = error
            self.abort()
            raise


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


@dataclass(frozen=True)
class _Chunk:
    """Decoded files ready for the writer: the polars work is done on the producing thread, so the
    writer thread, the pipeline's bottleneck, only runs DuckDB."""

    events: pa.Table  # COMMON_COLUMNS plus `_first`, the chunk's first copy of each (type, id)
    first_per_file: dict[str, int]  # events per source key that are the chunk's first copy
    days: list[date]
    event_types: list[str]

    @classmethod
    def of(cls, decoded: list[_Decoded]) -> _Chunk | None:
        frames = [d.frame for d in decoded if d.frame is not None and d.frame.height]
        if not frames:
            return None
        # A mask rather than a filtered copy: copies inside one chunk are rare, the chunk is large.
        # Keyed on (type, id): a chunk often holds several types, and ids may repeat across types.
        events = pl.concat(frames).with_columns(
            _first=pl.struct("event_type", "event_id").is_first_distinct()
        )
        per_file = dict(
            events.lazy().filter("_first").group_by("source_key").len().collect().iter_rows()
        )
        # Files' constant columns as dictionaries and string views: DuckDB ingests them far cheaper.
        table = events.with_columns(
            pl.col("event_type", "source_key").cast(pl.Categorical)
        ).to_arrow(compat_level=pl.CompatLevel.newest())
        days = [events["event_date"].min(), events["event_date"].max()]
        return cls(table, per_file, days, events["event_type"].unique().to_list())


def _insert_new_events(con: duckdb.DuckDBPyConnection, chunk: _Chunk) -> dict[str, int]:
    """Insert the chunk's events whose (type, id) is not loaded yet, the chunk's first copy of each;
    returns events inserted per source key."""
    con.register("_currents_batch", chunk.events)
    try:
        # A re-delivered event is the same record, so its copies share `event_date` and `event_type`:
        # looking only at the chunk's dates and types keeps the lookup's cost bound to those, not to
        # the whole table. One probe of the loaded ids; the insert then only needs the (usually tiny)
        # set of repeats.
        # The probe matches on (type, id): the chunk's types filter the scan, but a loaded event of
        # one of those types must not hide an event of another type with the same id.
        con.execute(
            f"""CREATE OR REPLACE TEMP TABLE _currents_known AS
            WITH batch AS MATERIALIZED (
                SELECT event_type::VARCHAR AS event_type, event_id, source_key
                FROM _currents_batch WHERE _first
            )
            SELECT event_type, event_id, source_key::VARCHAR AS source_key FROM batch
            SEMI JOIN (
                SELECT event_type, event_id FROM {EVENTS_TABLE}
                WHERE event_date BETWEEN ? AND ? AND list_contains(?, event_type)
            ) USING (event_type, event_id)""",
            [*chunk.days, chunk.event_types],
        )
        columns = ", ".join(_insert_expression(c) for c in COMMON_COLUMNS)
        con.execute(
            f"""INSERT INTO {EVENTS_TABLE} SELECT {columns} FROM _currents_batch b
            ANTI JOIN _currents_known k
                ON k.event_id = b.event_id AND k.event_type = b.event_type::VARCHAR
            WHERE _first"""
        )
        known = con.execute(
            "SELECT source_key, count(*) FROM _currents_known GROUP BY ALL"
        ).fetchall()
        con.execute("DROP TABLE _currents_known")
    finally:
        con.unregister("_currents_batch")
    per_file = dict(chunk.first_per_file)
    for key, count in known:
        per_file[key] -= count
    return per_file


def _insert_expression(column: str) -> str:
    if column in JSON_FIELDS:  # Braze promises JSON text; anything else is kept as a JSON string
        return f"CASE WHEN json_valid({column}) THEN {column} ELSE to_json({column})::VARCHAR END"
    if column in ("event_type", "source_key"):
        return f"{column}::VARCHAR"
    return column


def _write_ledger(con: duckdb.DuckDBPyConnection, results: list[FileResult]) -> None:
    rows = pl.DataFrame(
        [r.__dict__ for r in results],
        schema={
            "key": pl.String,
            "etag": pl.String,
            "size": pl.Int64,
            "event_type": pl.String,
            "event_date": pl.Date,
            "status": pl.String,
            "error": pl.String,
            "rows": pl.Int64,
            "inserted": pl.Int64,
        },
    ).with_columns(loaded_at=pl.lit(datetime.now(UTC)))
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


def _bounded_map(
    pool: ThreadPoolExecutor, fn: Callable[[_T], _R], items: Iterable[_T], window: int
) -> Iterator[_R]:
    """pool.map in input order, with at most `window` items in flight (memory stays per-file)."""
    pending: deque = deque()
    for item in items:
        pending.append(pool.submit(fn, item))
        if len(pending) >= window:
            yield pending.popleft().result()
    while pending:
        yield pending.popleft().result()
