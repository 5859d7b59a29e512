"""Every `path` location made into one DuckDB relation: local files, s3:// and gs:// objects
(downloaded, then read by DuckDB's file readers), and Delta and Iceberg tables (read to Arrow by
their own libraries, which DuckDB scans in place).

Loading, full or incremental, then works on that relation alone, so each location loads the same
records into the same rows. The relation's columns are the source's own; values are turned into
text by the loader.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from braze_assets.config.sources import (
    TABLE_FORMATS,
    SourceConfig,
    TransactionSourceConfig,
    path_format,
    path_scheme,
)
from braze_assets.sources import gcs, s3
from braze_assets.sources.lakehouse import Since, scan_table
from braze_assets.sources.load import (
    StagedFile,
    describe_files,
    file_origins,
    local_files,
    reader_sql,
    resolve_path,
)
from braze_assets.warehouse import quote, quote_literal


@dataclass
class Staged:
    relation: str  # SQL usable after FROM
    origin: str  # SQL for each row's `_source_file`
    columns: list[str]
    location: str  # what messages and `_source_file` call it
    files: list[StagedFile] = field(default_factory=list)
    # Rows the reader returned: for a table read with `since`, only those its filter let through.
    rows_scanned: int | None = None
    # key column -> a relation of every key as text (for the key scan of deletions).
    keys: Callable[[str], str] | None = None
    # For a table: its data files, and those the reader opened after pruning by `since`.
    files_read: int | None = None
    files_total: int | None = None


def _text_keys(relation: str, key: str) -> str:
    k = quote(key)
    return f"(SELECT NULLIF(CAST({k} AS VARCHAR), '') AS {k} FROM {relation})"


@contextmanager
def stage(
    con: duckdb.DuckDBPyConnection,
    entry: SourceConfig | TransactionSourceConfig,
    data_dir: Path,
    *,
    since: Since | None = None,
) -> Iterator[Staged]:
    """The entry's rows as a relation; `since` lets a table format skip unchanged rows (files are
    read whole, and the caller filters either way)."""
    assert entry.path is not None
    fmt = path_format(entry.path, entry.format)
    scheme = path_scheme(entry.path)
    location = entry.path if scheme else str(resolve_path(entry.path, data_dir))
    if fmt in TABLE_FORMATS:
        registered: list[str] = []

        def register(table) -> str:
            name = f"_source_arrow_{entry.name}_{len(registered)}"
            con.register(name, table)
            registered.append(name)
            return quote(name)

        scan = scan_table(entry.name, fmt, location, since=since)
        rows = scan.table
        relation = register(rows)

        def keys(key: str) -> str:
            if since is None:
                return _text_keys(relation, key)
            # The filtered read lacks unchanged rows: every key is read again, that column only.
            return _text_keys(
                register(scan_table(entry.name, fmt, location, columns=[key]).table), key
            )

        try:
            yield Staged(
                relation,
                quote_literal(location),
                rows.column_names,
                location,
                rows_scanned=rows.num_rows,
                keys=keys,
                files_read=scan.files_read,
                files_total=scan.files_total,
            )
        finally:
            for name in registered:
                con.unregister(name)
        return
    with tempfile.TemporaryDirectory(prefix=f"source_{entry.name}_") as tmp:
        if scheme == "s3":
            files = s3.download(entry.name, entry.path, Path(tmp))
        elif scheme == "gs":
            files = gcs.download(entry.name, entry.path, Path(tmp))
        else:
            files = local_files(entry.name, Path(location))
        columns = describe_files(con, entry.name, files, fmt, location)
        relation = reader_sql([f.local for f in files], fmt, columns)
        yield Staged(
            relation,
            file_origins(files),
            columns,
            location,
            files=files,
            keys=lambda key: _text_keys(relation, key),
        )
