"""A source's files loaded in full on the engine of the mode (Spark mode's sources).

Each file is read by DuckDB's own reader with the very SQL DuckDB mode loads it with
(`load.reader_sql` and `load.text_column`), once per file, through `Engine.read_files`: on Spark
every file is a task of its own on the executors, so the driver never parses or holds the rows;
on DuckDB the files are read one after the other on the driver. Parity with DuckDB mode comes from
sharing the reader, not from matching Spark's CSV reader to DuckDB's:

- `_row_number` is DuckDB mode's: the rows are numbered in reading order across the files in name
  order, from 2 (a CSV's first data line). A file's rows are numbered in its task as they stream
  out of a one-thread DuckDB (its order), and each file's count of rows before it is added after;
- rows are numbered before the soft-deleted ones are dropped, as in DuckDB mode;
- the checks (no rows, declared columns without a value, duplicate keys) count the same things.

What stays on DuckDB's loader in Spark mode (the asset's kinds say which): incremental sources
(their merge keeps raw rows and a watermark in the warehouse file), Postgres tables, s3:// and
gs:// objects (downloaded to the driver's disk, which a cluster's executors cannot read), Delta
and Iceberg tables (read to Arrow on the driver by their own libraries), and any source when the
table location is not a local path (the warehouse's view of the raw table reads it in place).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from braze_assets.config.sources import (
    TABLE_FORMATS,
    SourceConfig,
    TransactionSourceConfig,
    path_format,
    path_scheme,
)
from braze_assets.sources import incremental
from braze_assets.sources.load import (
    FILE_COLUMN,
    LoadReport,
    SourceError,
    StagedFile,
    check_columns,
    describe_files,
    local_files,
    read_error,
    reader_sql,
    resolve_path,
    text_column,
)
from braze_assets.warehouse import drop_table_or_view, quote, quote_literal, transaction

# Rows per Arrow batch a file's reader hands to the engine.
BATCH_ROWS = 65_536
# The file reader's DuckDB in a task: one thread keeps the file's order; a small cap, because a
# Spark executor runs several tasks and DuckDB spills what does not fit.
READER_MEMORY = "256MB"


def engine_load_refusal(
    entry: SourceConfig | TransactionSourceConfig, location_is_local: bool
) -> str | None:
    """Why this source loads with DuckDB's loader in Spark mode; None when it loads on the engine."""
    if entry.postgres is not None:
        return "a Postgres table"
    if isinstance(entry, SourceConfig) and entry.incremental:
        return "an incremental source"
    assert entry.path is not None
    if path_scheme(entry.path):
        return f"{path_scheme(entry.path)}:// objects"
    if path_format(entry.path, entry.format) in TABLE_FORMATS:
        return f"a {path_format(entry.path, entry.format)} table"
    if not location_is_local:
        return "the table location is not a local path"
    return None


@dataclass(frozen=True)
class FileReader:
    """Reads one file as text rows of the source's columns, in a process of its own (a Spark
    task) or on the driver: `read(i, path)` yields Arrow batches of `schema()`."""

    source: str
    location: str
    fmt: str
    columns: tuple[str, ...]
    origins: tuple[str, ...]

    def schema(self) -> pa.Schema:
        return pa.schema(
            [
                *(pa.field(c, pa.string()) for c in self.columns),
                pa.field("_source_file", pa.string()),
                pa.field("_file", pa.int32()),
                pa.field("_file_row", pa.int64()),
            ]
        )

    def __call__(self, index: int, path: str) -> Iterator[pa.RecordBatch]:
        import duckdb

        staged = StagedFile(Path(path), self.origins[index])
        schema = self.schema()
        width = len(self.columns)
        con = duckdb.connect()
        try:
            con.execute("SET threads = 1")
            con.execute(f"SET memory_limit = '{READER_MEMORY}'")
            relation = reader_sql([staged.local], self.fmt, list(self.columns))
            present = {
                row[0]
                for row in con.execute(f"DESCRIBE SELECT * FROM {relation}").fetchall()
                if row[0] != FILE_COLUMN
            }
            # A column another file has and this one lacks is NULL, as DuckDB's union_by_name
            # reads it.
            select = ", ".join(
                text_column(c) if c in present else f"CAST(NULL AS VARCHAR) AS {quote(c)}"
                for c in self.columns
            )
            reader = con.execute(f"SELECT {select} FROM {relation}").to_arrow_reader(BATCH_ROWS)
            done = 0
            for batch in reader:
                rows = batch.num_rows
                if not rows:
                    continue
                arrays = [batch.column(i).cast(pa.string()) for i in range(width)]
                arrays += [
                    pa.array([staged.origin] * rows, pa.string()),
                    pa.array([index] * rows, pa.int32()),
                    pa.array(range(done, done + rows), pa.int64()),
                ]
                done += rows
                yield pa.RecordBatch.from_arrays(arrays, schema=schema)
        except duckdb.Error as exc:
            raise read_error(self.source, [staged], self.location, exc) from None
        finally:
            con.close()


_REMOTE_ERROR = re.compile(r"SourceError: (source .*)")


def _source_error(source: str, location: str, exc: BaseException) -> SourceError:
    """The reader's SourceError as raised in a task, out of the engine's wrapping (Spark reports
    a task's Python exception inside its own, with the worker's traceback)."""
    if isinstance(exc, SourceError):
        return exc
    found = _REMOTE_ERROR.search(str(exc))
    if found:
        return SourceError(found.group(1).strip())
    first = next(
        (line.strip() for line in str(exc).splitlines() if line.strip()), type(exc).__name__
    )
    return SourceError(f"source {source!r}: cannot read {location}: {first}")


def load_files_on_engine(
    engine,
    *,
    source: str,
    table: str,
    files: list[StagedFile],
    fmt: str,
    columns: list[str],
    location: str,
    required_columns: list[str],
    primary_key: str,
    exclude: str | None = None,
) -> LoadReport:
    """Replace the engine's `table` with the rows of `files` as text, as load.load_relation does
    on DuckDB's multi-file reader."""
    check_columns(source, location, columns, required_columns)
    reader = FileReader(source, location, fmt, tuple(columns), tuple(f.origin for f in files))
    read, offsets = f"_{table}__read", f"_{table}__offsets"
    registered = False
    try:
        engine.read_files(read, [str(f.local) for f in files], reader, reader.schema())
        counts = dict(engine.fetch(f"SELECT _file, count(*) FROM {read} GROUP BY _file"))
        before, starts = 0, []
        for i in range(len(files)):
            starts.append(before)
            before += counts.get(i, 0)
        engine.register(
            offsets,
            pa.table(
                {
                    "_file": pa.array(range(len(files)), pa.int32()),
                    "_offset": pa.array(starts, pa.int64()),
                }
            ),
        )
        registered = True
        text = ", ".join(f"r.{quote(c)}" for c in columns)
        numbered = (
            f"SELECT {text}, r._source_file, "
            f"CAST(o._offset + r._file_row + 2 AS BIGINT) AS _row_number "
            f"FROM {read} r JOIN {offsets} o ON o._file = r._file"
        )
        where = f"WHERE NOT ({exclude})" if exclude else ""
        engine.write_table(table, f"SELECT * FROM ({numbered}) n {where} ORDER BY _row_number")
        checks = [f"count(NULLIF(trim({quote(c)}), ''))" for c in required_columns]
        rows, keys, *present = engine.fetch(
            f"SELECT count(*), count(DISTINCT {quote(primary_key)})"
            + "".join(f", {c}" for c in checks)
            + f" FROM {table}"
        )[0]
    except engine.errors as exc:
        raise _source_error(source, location, exc) from None
    finally:
        engine.drop_temp(read)
        if registered:
            engine.unregister(offsets)
    if rows == 0:
        raise SourceError(f"source {source!r}: {location} has no rows")
    empty = [c for c, found in zip(required_columns, present) if not found]
    return LoadReport(table, location, rows, columns, empty, rows - keys)


def load_source_files(
    engine,
    con,
    entry: SourceConfig | TransactionSourceConfig,
    data_dir: Path,
    *,
    table: str,
    required_columns: list[str],
    exclude: str | None,
) -> LoadReport:
    """A local file source (a path or glob) read in full on the engine; `con` (the warehouse's
    DuckDB) only finds the files' columns, as DuckDB mode does, from the readers' sample."""
    assert entry.path is not None
    location = str(resolve_path(entry.path, data_dir))
    try:
        fmt = path_format(entry.path, entry.format)
    except ValueError as exc:
        raise SourceError(f"source {entry.name!r}: {exc}") from None
    files = local_files(entry.name, Path(location))
    columns = describe_files(con, entry.name, files, fmt, location)
    return load_files_on_engine(
        engine,
        source=entry.name,
        table=table,
        files=files,
        fmt=fmt,
        columns=columns,
        location=location,
        required_columns=required_columns,
        primary_key=entry.primary_key,
        exclude=exclude,
    )


def parquet_view(con, table: str, directory: str) -> None:
    """The warehouse's `table` as a view of the Parquet files a Spark stage wrote at `directory`,
    read in place (no copy) by the stages that still run on DuckDB; it follows the table's
    rewrites (the files are listed when it is read)."""
    with transaction(con):
        drop_table_or_view(con, table)
        con.execute(
            f"CREATE VIEW {quote(table)} AS SELECT * FROM "
            f"read_parquet({quote_literal(directory.rstrip('/') + '/*.parquet')})"
        )


def load_source_on_engine(con, engine, entry, data_dir: Path):
    """load_source for a source engine_load_refusal accepts: read in full on `engine`."""
    if isinstance(entry, SourceConfig):
        # As load_source: a source read in full forgets an earlier incremental setup's watermark.
        incremental.forget_state(con, entry.name)
    report = load_source_files(
        engine,
        con,
        entry,
        data_dir,
        table=incremental.raw_table_name(entry),
        required_columns=incremental.required_columns(entry),
        exclude=incremental.soft_deleted(entry),
    )
    return incremental.SourceLoad(report, "full", report.rows)
