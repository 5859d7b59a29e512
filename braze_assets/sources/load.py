"""Load a declared source into `raw_<name>` without judging its values.

Every column is read as text so a junk value can never fail the load or be silently coerced;
standardisation decides later what is junk and reports it. `_row_number` keeps the file's line so
later errors can point at the row, and `_source_file` says which file (or object, or table) a row
came from. An empty value is NULL whatever the format, so a CSV, a Parquet file, a JSON Lines file
and a Postgres table with the same rows load into the same raw table.
"""

from __future__ import annotations

import glob
from dataclasses import dataclass
from pathlib import Path

import duckdb

from braze_assets.config.sources import path_format
from braze_assets.warehouse import quote, quote_literal, replace_table, row_count

SUPPORTED = (".csv", ".csv.gz", ".tsv", ".parquet", ".jsonl", ".ndjson")
WILDCARDS = "*?["
# The readers' file-name column; not `filename`, which a source may well have.
FILE_COLUMN = "_braze_assets_file"


class SourceError(ValueError):
    """A source cannot be loaded as declared; names the source, the location and the problem."""


@dataclass(frozen=True)
class LoadReport:
    table: str
    path: Path | str
    rows: int
    columns: list[str]
    empty_columns: list[str]
    duplicate_keys: int


@dataclass(frozen=True)
class StagedFile:
    """A local file to read and the location its rows are attributed to (e.g. its s3:// URL)."""

    local: Path
    origin: str


def resolve_path(path: str, data_dir: Path) -> Path:
    candidate = Path(path).expanduser()
    return candidate if candidate.is_absolute() else data_dir / candidate


def is_glob(path: str) -> bool:
    return any(c in path for c in WILDCARDS)


def local_files(source: str, path: Path) -> list[StagedFile]:
    """The files a local path or glob names, in name order; an error when there are none."""
    text = str(path)
    if not is_glob(text):
        if not path.exists():
            raise SourceError(
                f"source {source!r}: file {path} does not exist (run `braze-assets generate` for the demo data)"
            )
        return [StagedFile(path, text)]
    matches = sorted(Path(p) for p in glob.glob(text, recursive=True) if Path(p).is_file())
    if not matches:
        raise SourceError(f"source {source!r}: no file matches {path}")
    return [StagedFile(p, str(p)) for p in matches]


def reader_sql(files: list[Path], fmt: str, columns: list[str] | None = None) -> str:
    """A DuckDB table function over local files; FILE_COLUMN holds each row's file."""
    listed = "[" + ", ".join(quote_literal(str(p)) for p in files) + "]"
    if fmt == "parquet":
        return f"read_parquet({listed}, filename = '{FILE_COLUMN}', union_by_name = true)"
    if fmt == "csv" and columns is not None:
        # Known columns (a Postgres COPY): no sniffing, so no data can be mistaken for a dialect.
        spec = ", ".join(f"{quote_literal(c)}: 'VARCHAR'" for c in columns)
        return (
            f"read_csv({listed}, header = true, auto_detect = false, delim = ',', quote = '\"', "
            f"escape = '\"', columns = {{{spec}}}, filename = '{FILE_COLUMN}')"
        )
    if fmt == "csv":
        return (
            f"read_csv({listed}, all_varchar = true, header = true, auto_detect = true, "
            f"filename = '{FILE_COLUMN}', union_by_name = true)"
        )
    if fmt == "jsonl":
        # JSON has no all_varchar: the columns found by a first DESCRIBE are read back as text.
        spec = (
            ""
            if columns is None
            else ", columns = {"
            + ", ".join(f"{quote_literal(c)}: 'VARCHAR'" for c in columns)
            + "}"
        )
        return (
            f"read_json({listed}, format = 'newline_delimited', filename = '{FILE_COLUMN}'{spec})"
        )
    raise SourceError(f"unsupported format {fmt!r}; use one of {', '.join(SUPPORTED)}")


def read_error(
    source: str, files: list[StagedFile], location: str, exc: duckdb.Error
) -> SourceError:
    """One line for files DuckDB cannot read. DuckDB's CSV errors run to 30 lines of sniffer
    settings, and for bad UTF-8 its "Original Line" is the line before the bad one, so an
    encoding error is located here by reading the bytes of each file."""
    text = str(exc)
    if "unicode" in text.lower() or "utf-8" in text.lower():
        for staged in files:
            where = _first_invalid_utf8(staged.local)
            if where is None:
                continue
            return SourceError(
                f"source {source!r}: {staged.origin} is not valid UTF-8: {where}; save the file as UTF-8 "
                "(e.g. `iconv -f latin1 -t utf-8`) and run again"
            )
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    brief = "; ".join(lines[:3])
    return SourceError(f"source {source!r}: cannot read {location}: {brief}")


def _first_invalid_utf8(path: Path) -> str | None:
    """'line L (data row R), column C: byte 0xNN' of the first byte that is not UTF-8."""
    import codecs
    import csv
    import gzip

    opener = gzip.open if path.name.lower().endswith(".gz") else open
    decoder = codecs.getincrementaldecoder("utf-8")()
    header: list[str] | None = None
    with opener(path, "rb") as handle:
        for number, raw in enumerate(handle, start=1):
            try:
                line = decoder.decode(raw)
            except UnicodeDecodeError as error:
                bad = raw[error.start : error.start + 1].hex()
                fields = next(csv.reader([raw.decode("utf-8", "replace")]), [])
                column = next((i for i, f in enumerate(fields) if "\ufffd" in f), None)
                name = ""
                if column is not None:
                    label = header[column] if header and column < len(header) else None
                    name = f", column {label or column + 1}"
                return f"line {number} (data row {number - 1}){name}: byte 0x{bad}"
            if header is None:
                header = next(csv.reader([line]), [])
    return None


def load_table(
    con: duckdb.DuckDBPyConnection,
    *,
    source: str,
    table: str,
    path: Path,
    required_columns: list[str],
    primary_key: str,
    fmt: str | None = None,
    exclude: str | None = None,
) -> LoadReport:
    """Load a local file or glob (the path as given in the config, resolved)."""
    try:
        fmt = path_format(str(path), fmt)
    except ValueError as exc:
        raise SourceError(f"source {source!r}: {exc}") from None
    return load_files(
        con,
        source=source,
        table=table,
        files=local_files(source, path),
        fmt=fmt,
        location=str(path),
        required_columns=required_columns,
        primary_key=primary_key,
        exclude=exclude,
    )


def load_files(
    con: duckdb.DuckDBPyConnection,
    *,
    source: str,
    table: str,
    files: list[StagedFile],
    fmt: str,
    location: str,
    required_columns: list[str],
    primary_key: str,
    exclude: str | None = None,
    columns: list[str] | None = None,
) -> LoadReport:
    """Replace `table` with the rows of `files` (read as text); `exclude` is a SQL condition on the
    read rows that drops them (e.g. soft-deleted rows); `columns` skips detecting them."""
    if columns is None:
        columns = describe_files(con, source, files, fmt, location)
    return load_relation(
        con,
        source=source,
        table=table,
        relation=reader_sql([f.local for f in files], fmt, columns),
        origin=file_origins(files),
        columns=columns,
        location=location,
        required_columns=required_columns,
        primary_key=primary_key,
        exclude=exclude,
        files=files,
    )


def describe_files(
    con: duckdb.DuckDBPyConnection, source: str, files: list[StagedFile], fmt: str, location: str
) -> list[str]:
    """The columns of the files, as the reader finds them (the file-name column left out)."""
    try:
        described = con.execute(
            f"DESCRIBE SELECT * FROM {reader_sql([f.local for f in files], fmt)}"
        ).fetchall()
    except duckdb.Error as exc:
        raise read_error(source, files, location, exc) from None
    return [row[0] for row in described if row[0] != FILE_COLUMN]


def file_origins(files: list[StagedFile]) -> str:
    """SQL for each read row's origin (e.g. its s3:// URL), from the reader's file-name column."""
    return (
        f"CASE {FILE_COLUMN} "
        + " ".join(
            f"WHEN {quote_literal(str(f.local))} THEN {quote_literal(f.origin)}" for f in files
        )
        + " END"
    )


def check_columns(source: str, location: str, columns: list[str], required: list[str]) -> None:
    missing = [c for c in required if c not in columns]
    if missing:
        raise SourceError(
            f"source {source!r}: column(s) {', '.join(missing)} declared in the config are missing from {location} "
            f"(it has: {', '.join(columns)})"
        )


def numbered_rows(relation: str, origin: str, columns: list[str]) -> str:
    """The rows of `relation` as text, with their origin and `_row_number` (from 2, as a file line)."""
    return (
        f"SELECT {text_columns(columns)}, {origin} AS _source_file, "
        f"CAST(row_number() OVER () AS BIGINT) + 1 AS _row_number FROM {relation}"
    )


def load_relation(
    con: duckdb.DuckDBPyConnection,
    *,
    source: str,
    table: str,
    relation: str,
    origin: str,
    columns: list[str],
    location: str,
    required_columns: list[str],
    primary_key: str,
    exclude: str | None = None,
    files: list[StagedFile] | None = None,
) -> LoadReport:
    """Replace `table` with the rows of a DuckDB relation (files, or an Arrow table) as text."""
    check_columns(source, location, columns, required_columns)
    where = f"WHERE NOT ({exclude})" if exclude else ""
    try:
        # Numbered before the exclusion, so a row keeps its line whatever is dropped.
        replace_table(
            con, table, f"SELECT * FROM ({numbered_rows(relation, origin, columns)}) {where}"
        )
    except duckdb.Error as exc:  # a bad row past the part DuckDB sniffed
        if files:
            raise read_error(source, files, location, exc) from None
        raise SourceError(f"source {source!r}: cannot read {location}: {exc}") from None
    return check_loaded(
        con,
        source=source,
        table=table,
        location=location,
        columns=columns,
        required_columns=required_columns,
        primary_key=primary_key,
    )


def text_column(column: str) -> str:
    """A read column as text, an empty value NULL (whatever the format)."""
    return f"NULLIF(CAST({quote(column)} AS VARCHAR), '') AS {quote(column)}"


def text_columns(columns: list[str]) -> str:
    return ", ".join(text_column(c) for c in columns)


def check_loaded(
    con: duckdb.DuckDBPyConnection,
    *,
    source: str,
    table: str,
    location: str | Path,
    columns: list[str],
    required_columns: list[str],
    primary_key: str,
    duplicates: int | None = None,
) -> LoadReport:
    """Rows, declared columns without any value, and duplicate keys (unless the caller knows them)."""
    rows = row_count(con, table)
    if rows == 0:
        raise SourceError(f"source {source!r}: {location} has no rows")
    # One EXISTS per column stops at the first value, instead of counting every row's.
    present = con.execute(
        "SELECT "
        + ", ".join(
            f"EXISTS (SELECT 1 FROM {quote(table)} WHERE NULLIF(trim({quote(c)}), '') IS NOT NULL)"
            for c in required_columns
        )
    ).fetchone()
    empty = [c for c, found in zip(required_columns, present) if not found]
    if duplicates is None:
        duplicates = count_duplicates(con, table, primary_key)
    return LoadReport(table, location, rows, columns, empty, duplicates)


def count_duplicates(
    con: duckdb.DuckDBPyConnection, table: str, primary_key: str, where: str = ""
) -> int:
    """Rows beyond the first of each primary key; every row without a key counts."""
    return con.execute(
        f"SELECT count(*) - count(DISTINCT {quote(primary_key)}) FROM {quote(table)} {where}"
    ).fetchone()[0]
