"""Load a declared source file into `raw_<name>` without judging its values.

Every column is read as text so a junk value can never fail the load or be silently coerced;
standardisation decides later what is junk and reports it. `_row_number` keeps the file's line so
later errors can point at the row.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb

from braze_assets.warehouse import quote, quote_literal, replace_table, row_count

SUPPORTED = (".csv", ".csv.gz", ".tsv", ".parquet")


class SourceError(ValueError):
    """A source file cannot be loaded as declared; names the source, file and column."""


@dataclass(frozen=True)
class LoadReport:
    table: str
    path: Path
    rows: int
    columns: list[str]
    empty_columns: list[str]
    duplicate_keys: int


def resolve_path(path: str, data_dir: Path) -> Path:
    candidate = Path(path).expanduser()
    return candidate if candidate.is_absolute() else data_dir / candidate


def _reader(path: Path) -> str:
    name = path.name.lower()
    literal = quote_literal(str(path))
    if name.endswith(".parquet"):
        return f"read_parquet({literal})"
    if name.endswith((".csv", ".csv.gz", ".tsv")):
        return f"read_csv({literal}, all_varchar = true, header = true, auto_detect = true)"
    raise SourceError(f"{path}: unsupported file type; use one of {', '.join(SUPPORTED)}")


def read_error(source: str, path: Path, exc: duckdb.Error) -> SourceError:
    """One line for a file DuckDB cannot read. DuckDB's CSV errors run to 30 lines of sniffer
    settings, and for bad UTF-8 its "Original Line" is the line before the bad one, so an
    encoding error is located here by reading the bytes."""
    text = str(exc)
    if "unicode" in text.lower() or "utf-8" in text.lower():
        where = _first_invalid_utf8(path)
        if where is not None:
            return SourceError(
                f"source {source!r}: {path} is not valid UTF-8: {where}; save the file as UTF-8 "
                "(e.g. `iconv -f latin1 -t utf-8`) and run again"
            )
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    brief = "; ".join(lines[:3])
    return SourceError(f"source {source!r}: cannot read {path}: {brief}")


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
) -> LoadReport:
    if not path.exists():
        raise SourceError(
            f"source {source!r}: file {path} does not exist (run `braze-assets generate` for the demo data)"
        )
    try:
        described = con.execute(f"DESCRIBE SELECT * FROM {_reader(path)}").fetchall()
    except duckdb.Error as exc:
        raise read_error(source, path, exc) from None
    columns = [row[0] for row in described]
    missing = [c for c in required_columns if c not in columns]
    if missing:
        raise SourceError(
            f"source {source!r}: column(s) {', '.join(missing)} declared in the config are missing from {path} "
            f"(the file has: {', '.join(columns)})"
        )
    casts = ", ".join(f"CAST({quote(c)} AS VARCHAR) AS {quote(c)}" for c in columns)
    try:
        replace_table(
            con,
            table,
            f"SELECT {casts}, ? AS _source_file, CAST(row_number() OVER () AS BIGINT) + 1 AS _row_number FROM {_reader(path)}",
            [str(path)],
        )
    except duckdb.InvalidInputError as exc:  # a bad row past the part DuckDB sniffed
        raise read_error(source, path, exc) from None
    rows = row_count(con, table)
    if rows == 0:
        raise SourceError(f"source {source!r}: {path} has no rows")
    counts = con.execute(
        "SELECT "
        + ", ".join(f"count(NULLIF(trim({quote(c)}), ''))" for c in required_columns)
        + f" FROM {quote(table)}"
    ).fetchone()
    empty = [c for c, n in zip(required_columns, counts) if n == 0]
    duplicates = con.execute(
        f"SELECT count(*) - count(DISTINCT {quote(primary_key)}) FROM {quote(table)}"
    ).fetchone()[0]
    return LoadReport(table, path, rows, columns, empty, duplicates)
