"""Delta and Iceberg tables, read to Arrow (local or s3://) with the updated_at filter pushed down.

Read with delta-rs (`deltalake`) and `pyiceberg` rather than DuckDB's delta/iceberg extensions:
the `duckdb-extension-*` packages stop at DuckDB 1.5.5 and the pinned 1.5.6 refuses them. Both
return Arrow, which DuckDB scans in place and which another engine can take as it is.

An incremental read passes `since` (rows whose updated_at is after a time): for a timestamp or
date column it becomes the readers' own filter, so Delta skips files by their statistics and
Parquet row groups by theirs, and Iceberg prunes data files through its manifests before reading.
The caller filters again by the same rule, so a column of another type is read whole and still
filtered correctly.

S3 settings come from the same environment variables boto3 reads (AWS_ENDPOINT_URL, AWS_REGION,
AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN). Errors name the source, the table
and the problem, with every credential value removed.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from braze_assets.config.sources import path_scheme
from braze_assets.sources.load import SourceError
from braze_assets.sources.secrets import brief


@dataclass(frozen=True)
class Since:
    """Rows whose `column` is after `after` (a naive UTC time)."""

    column: str
    after: datetime


def _error(source: str, fmt: str, location: str, problem: str) -> SourceError:
    name = "Delta" if fmt == "delta" else "Iceberg"
    return SourceError(f"source {source!r}: cannot read {name} table {location}: {problem}")


@dataclass(frozen=True)
class TableScan:
    """The rows a table reader returned, and how many of the table's data files it read."""

    table: pa.Table
    files_read: int
    files_total: int


def scan_table(
    source: str,
    fmt: str,
    location: str,
    *,
    columns: list[str] | None = None,
    since: Since | None = None,
) -> TableScan:
    """The table's current rows (only `columns`, only rows after `since` where pushed down)."""
    if fmt == "delta":
        return _read_delta(source, location, columns, since)
    if fmt == "iceberg":
        return _read_iceberg(source, location, columns, since)
    raise ValueError(f"not a table format: {fmt}")


# -- Delta ------------------------------------------------------------------------------------


def delta_storage_options(location: str) -> dict[str, str]:
    """delta-rs reads the AWS_* variables itself; it only needs telling that http:// is fine."""
    if path_scheme(location) != "s3":
        return {}
    from braze_assets.sources.s3 import region

    options = {"AWS_REGION": region(), "timeout": "30s", "connect_timeout": "5s"}
    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    if endpoint and endpoint.startswith("http://"):
        options["AWS_ALLOW_HTTP"] = "true"
    return options


def _read_delta(
    source: str, location: str, columns: list[str] | None, since: Since | None
) -> TableScan:
    from deltalake import DeltaTable

    uri = location if path_scheme(location) else str(Path(location).expanduser())
    try:
        table = DeltaTable(uri, storage_options=delta_storage_options(location))
        dataset = table.to_pyarrow_dataset()
        where = _arrow_filter(dataset.schema, since)
        # Each file carries its column statistics as a guarantee, so the filter drops whole files
        # before any is opened; counted here for the load's metadata.
        total = len(list(dataset.get_fragments()))
        read = total if where is None else len(list(dataset.get_fragments(filter=where)))
        return TableScan(dataset.to_table(columns=columns, filter=where), read, total)
    except Exception as exc:  # deltalake raises its own and OSError/ArrowInvalid types
        problem = brief(exc)
        if "TableNotFound" in type(exc).__name__ or "No files in log segment" in problem:
            problem = f"no Delta table there ({problem})"
        raise _error(source, "delta", location, problem) from None


def _arrow_filter(schema: pa.Schema, since: Since | None):
    if since is None or since.column not in schema.names:
        return None
    kind = schema.field(since.column).type
    if pa.types.is_timestamp(kind):
        after = since.after.replace(tzinfo=UTC) if kind.tz else since.after
        return pc.field(since.column) > pa.scalar(after, type=kind)
    if pa.types.is_date(kind):
        # A date after the day before `after` may still hold a later time on that day.
        return pc.field(since.column) >= pa.scalar(since.after.date(), type=kind)
    return None


# -- Iceberg ----------------------------------------------------------------------------------


def iceberg_properties(location: str) -> dict[str, str]:
    if path_scheme(location) != "s3":
        return {}
    from braze_assets.sources.s3 import region

    props = {"s3.region": region()}
    for env, prop in (
        ("AWS_ENDPOINT_URL_S3", "s3.endpoint"),
        ("AWS_ENDPOINT_URL", "s3.endpoint"),
        ("AWS_ACCESS_KEY_ID", "s3.access-key-id"),
        ("AWS_SECRET_ACCESS_KEY", "s3.secret-access-key"),
        ("AWS_SESSION_TOKEN", "s3.session-token"),
    ):
        if os.environ.get(env) and prop not in props:
            props[prop] = os.environ[env]
    props["s3.connect-timeout"] = "5"
    return props


_VERSION = re.compile(r"^(?:v)?(\d+)[-.]")


def _metadata_file(source: str, location: str) -> str:
    """The table's current metadata file: the one given, or the highest version under metadata/."""
    if location.lower().endswith(".metadata.json"):
        return location
    base = location.rstrip("/") + "/metadata"
    if path_scheme(location) == "s3":
        from braze_assets.sources import s3

        try:
            keys = s3.list_keys(s3.client(), source, base + "/*.metadata.json")
        except SourceError as exc:
            problem = str(exc).split(": ", 1)[-1]
            raise _error(source, "iceberg", location, problem) from None
        names = [f"s3://{s3.ObjectPath.parse(base).bucket}/{k}" for k in keys]
    else:
        names = [str(p) for p in Path(base).expanduser().glob("*.metadata.json")]
    versions = [(int(m.group(1)), n) for n in names if (m := _VERSION.match(n.rsplit("/", 1)[-1]))]
    if not versions:
        raise _error(source, "iceberg", location, f"no metadata file (*.metadata.json) in {base}")
    return max(versions)[1]


def _read_iceberg(
    source: str, location: str, columns: list[str] | None, since: Since | None
) -> TableScan:
    from pyiceberg.expressions import AlwaysTrue, GreaterThan, GreaterThanOrEqual
    from pyiceberg.table import StaticTable
    from pyiceberg.types import DateType, TimestampType, TimestamptzType

    try:
        metadata = _metadata_file(source, location)
        if not path_scheme(metadata):
            metadata = str(Path(metadata).expanduser().resolve())
        table = StaticTable.from_metadata(metadata, properties=iceberg_properties(location))
        where = AlwaysTrue()
        schema = table.schema()
        if since is not None and since.column in {f.name for f in schema.fields}:
            kind = schema.find_field(since.column).field_type
            stamp = since.after.isoformat()
            if isinstance(kind, TimestamptzType):
                where = GreaterThan(since.column, stamp + "+00:00")
            elif isinstance(kind, TimestampType):
                where = GreaterThan(since.column, stamp)
            elif isinstance(kind, DateType):
                where = GreaterThanOrEqual(since.column, since.after.date().isoformat())
        selected = tuple(columns) if columns else ("*",)
        scan = table.scan(row_filter=where, selected_fields=selected)
        # Manifests' column bounds prune data files in planning, before any is read.
        read = len(list(scan.plan_files()))
        total = read if isinstance(where, AlwaysTrue) else len(list(table.scan().plan_files()))
        return TableScan(scan.to_arrow(), read, total)
    except SourceError:
        raise
    except Exception as exc:  # pyiceberg, pyarrow and fsspec errors
        problem = brief(exc)
        if isinstance(exc, FileNotFoundError) or "NoSuchKey" in problem or "not found" in problem:
            problem = f"no Iceberg table there ({problem})"
        raise _error(source, "iceberg", location, problem) from None
