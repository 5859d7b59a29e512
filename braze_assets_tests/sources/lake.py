"""Writing the test data where brands keep it: Delta tables (deltalake), Iceberg tables (pyiceberg,
a SQL catalog on sqlite), local or in the moto S3 server, and objects in the GCS emulator."""

from __future__ import annotations

import os
import uuid
from datetime import datetime
from pathlib import Path

import pyarrow as pa


def arrow_table(rows: list[dict], timestamps: tuple[str, ...] = ("updated_at",)) -> pa.Table:
    """Text columns as in the CSV (empty -> null), `timestamps` as real timestamps so a reader can
    filter on them."""
    columns = {}
    for name in rows[0]:
        values = [r[name] or None for r in rows]
        if name in timestamps:
            columns[name] = pa.array(
                [datetime.fromisoformat(v) if v else None for v in values], pa.timestamp("us")
            )
        else:
            columns[name] = pa.array(values, pa.string())
    return pa.table(columns)


# The S3 settings the tests export (conftest's s3_env), in the order each library's names follow.
_S3_ENV = ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION")


def _s3_settings(uri: str, names: tuple[str, str, str, str]) -> dict[str, str]:
    """The exported S3 settings under a library's own `names`; none for a location off S3."""
    if not uri.startswith("s3://"):
        return {}
    return {name: os.environ[var] for name, var in zip(names, _S3_ENV)}


def delta_options(uri: str) -> dict[str, str]:
    options = _s3_settings(uri, _S3_ENV)
    if options:
        options["AWS_ALLOW_HTTP"] = "true"
        # One writer in the tests, so no locking provider is needed for S3 commits.
        options["AWS_S3_ALLOW_UNSAFE_RENAME"] = "true"
    return options


def write_delta(uri: str, table: pa.Table, mode: str = "overwrite") -> None:
    from deltalake import write_deltalake

    write_deltalake(uri, table, mode=mode, storage_options=delta_options(uri))


def delta_table(uri: str):
    from deltalake import DeltaTable

    return DeltaTable(uri, storage_options=delta_options(uri))


def iceberg_table(catalog_dir: Path, warehouse: str, table: pa.Table):
    """A new Iceberg table holding `table`; its location is `<warehouse>/brand/<name>`."""
    from pyiceberg.catalog.sql import SqlCatalog

    catalog = SqlCatalog(
        "brand",
        uri=f"sqlite:///{catalog_dir / f'catalog_{uuid.uuid4().hex[:8]}.db'}",
        warehouse=warehouse,
        **_s3_settings(
            warehouse, ("s3.endpoint", "s3.access-key-id", "s3.secret-access-key", "s3.region")
        ),
    )
    catalog.create_namespace_if_not_exists("brand")
    created = catalog.create_table(f"brand.t_{uuid.uuid4().hex[:8]}", schema=table.schema)
    created.append(table)
    return created


def upload_gcs(bucket, name: str, path: Path) -> None:
    bucket.blob(name).upload_from_filename(str(path))
