"""Each location loads the same records into raw_<source> as the local CSV: the same rows, values,
column order and row numbers. S3 and gs:// objects (CSV glob, Parquet, JSON Lines) on the moto S3
server and a GCS emulator, a Postgres table and query, and Delta and Iceberg tables, local and on
S3."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from braze_assets_tests.identity.fixtures import write_demo_sources
from braze_assets_tests.sources.helpers import (
    ECOMMERCE_CSV,
    ORDERS_CSV,
    assert_glob_read_the_two_parts,
    assert_same_rows,
    assert_transactions_load_alike,
    ecommerce_entry,
    export_entries,
    export_files,
    materialize,
    metadata,
    pg_table_from_csv,
    project,
    records,
    txn,
)
from braze_assets_tests.sources.lake import arrow_table, iceberg_table, upload_gcs, write_delta

pytestmark = pytest.mark.integration


def test_every_location_loads_the_same_rows_as_the_csv(
    tmp_path, pg, postgres_server, s3_env, monkeypatch
):
    conn, schema = pg
    client, bucket = s3_env
    write_demo_sources(tmp_path, 120)
    source_csv = tmp_path / ECOMMERCE_CSV
    monkeypatch.setenv("BRAZE_ASSETS_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("CRM_DATABASE_URL", postgres_server.url())

    records = export_files(
        tmp_path, source_csv, lambda key, path: client.upload_file(str(path), bucket, key)
    )
    pg_table_from_csv(conn, schema, "accounts", source_csv)

    config = project(
        ecommerce_entry("local_csv", path=ECOMMERCE_CSV),
        *export_entries(f"s3://{bucket}"),
        ecommerce_entry(
            "pg_table",
            postgres={"connection_env": "CRM_DATABASE_URL", "table": f"{schema}.accounts"},
        ),
        ecommerce_entry(
            "pg_query",
            postgres={
                "connection_env": "CRM_DATABASE_URL",
                "query": f"SELECT * FROM {schema}.accounts WHERE account_id IS NOT NULL",
            },
            load={"mode": "full"},
        ),
    )
    warehouse = tmp_path / "warehouse.duckdb"
    result = materialize(config, warehouse)
    assert result.success

    names = ("s3_csv", "s3_parquet", "s3_jsonl", "pg_table", "pg_query")
    assert len(assert_same_rows(warehouse, "local_csv", names)) == records > 50

    assert_glob_read_the_two_parts(warehouse, f"s3://{bucket}")
    with duckdb.connect(str(warehouse), read_only=True) as con:
        secretless = con.execute("SELECT DISTINCT _source_file FROM raw_pg_table").fetchall()
    assert secretless == [(f"postgres table {schema}.accounts via $CRM_DATABASE_URL",)]
    table_meta = metadata(result, "raw_pg_table")
    assert table_meta["load_mode"] == "full" and table_meta["rows_read"] == records
    assert table_meta["full_load_reason"] == "first load"
    assert metadata(result, "raw_pg_query")["load_mode"] == "full"
    assert "watermark" not in metadata(result, "raw_pg_query")


def test_transactions_load_the_same_rows_from_every_location(
    tmp_path, pg, postgres_server, s3_env, monkeypatch
):
    conn, schema = pg
    client, bucket = s3_env
    write_demo_sources(tmp_path, 30)
    monkeypatch.setenv("BRAZE_ASSETS_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("SHOP_DB", postgres_server.url())
    orders = tmp_path / "orders.csv"
    orders.write_text(ORDERS_CSV)
    client.upload_file(str(orders), bucket, "orders/2024/orders.csv")
    pg_table_from_csv(
        conn, schema, "orders", orders, timestamps=("ordered_at",), primary_key="order_id"
    )
    assert_transactions_load_alike(
        tmp_path,
        orders,
        txn("s3", path=f"s3://{bucket}/orders/*/orders.csv"),
        txn("pg", postgres={"connection_env": "SHOP_DB", "table": f"{schema}.orders"}),
    )


def test_gcs_delta_and_iceberg_load_the_same_rows_as_the_csv(
    tmp_path, s3_env, gcs_env, monkeypatch
):
    _, bucket = s3_env
    gcs_bucket = gcs_env
    write_demo_sources(tmp_path, 120)
    source_csv = tmp_path / ECOMMERCE_CSV
    monkeypatch.setenv("BRAZE_ASSETS_DATA_DIR", str(tmp_path))

    rows = export_files(tmp_path, source_csv, lambda key, path: upload_gcs(gcs_bucket, key, path))
    table = arrow_table(records(source_csv))
    write_delta(str(tmp_path / "lake" / "accounts"), table)
    write_delta(f"s3://{bucket}/lake/accounts", table)
    local_ice = iceberg_table(tmp_path, f"file://{tmp_path / 'ice'}", table)
    s3_ice = iceberg_table(tmp_path, f"s3://{bucket}/ice", table)

    config = project(
        ecommerce_entry("local_csv", path=ECOMMERCE_CSV),
        *export_entries(f"gs://{gcs_bucket.name}"),
        ecommerce_entry("delta_local", path="lake/accounts", format="delta"),
        ecommerce_entry("delta_s3", path=f"s3://{bucket}/lake/accounts", format="delta"),
        # A table directory (the newest metadata file is found) and a metadata file.
        ecommerce_entry(
            "iceberg_local",
            path=str(Path(local_ice.location().removeprefix("file://")).relative_to(tmp_path)),
            format="iceberg",
        ),
        ecommerce_entry("iceberg_s3", path=s3_ice.metadata_location),
    )
    warehouse = tmp_path / "warehouse.duckdb"
    result = materialize(config, warehouse)
    assert result.success

    tables = ("delta_local", "delta_s3", "iceberg_local", "iceberg_s3")
    names = ("gs_csv", "gs_parquet", "gs_jsonl", *tables)
    assert len(assert_same_rows(warehouse, "local_csv", names)) == rows > 50

    assert_glob_read_the_two_parts(warehouse, f"gs://{gcs_bucket.name}")
    # Tables load incrementally by default; the first load reads everything.
    for name in tables:
        meta = metadata(result, f"raw_{name}")
        assert (meta["load_mode"], meta["rows_read"]) == ("full", rows), name
        assert meta["full_load_reason"] == "first load"
    assert metadata(result, "raw_gs_csv")["load_mode"] == "full"
    assert "watermark" not in metadata(result, "raw_gs_csv")


def test_transactions_load_the_same_rows_from_gcs_delta_and_iceberg(
    tmp_path, s3_env, gcs_env, monkeypatch
):
    _, bucket = s3_env
    write_demo_sources(tmp_path, 30)
    monkeypatch.setenv("BRAZE_ASSETS_DATA_DIR", str(tmp_path))
    orders = tmp_path / "orders.csv"
    orders.write_text(ORDERS_CSV)
    upload_gcs(gcs_env, "orders/2024/orders.csv", orders)
    table = arrow_table(records(orders), timestamps=("ordered_at",))
    write_delta(f"s3://{bucket}/lake/orders", table)
    write_delta(str(tmp_path / "lake" / "orders"), table)
    ice = iceberg_table(tmp_path, f"s3://{bucket}/ice", table)
    assert_transactions_load_alike(
        tmp_path,
        orders,
        txn("gs", path=f"gs://{gcs_env.name}/orders/*/orders.csv"),
        txn("delta_s3", path=f"s3://{bucket}/lake/orders", format="delta"),
        txn("delta_local", path="lake/orders", format="delta"),
        txn("iceberg_s3", path=ice.location(), format="iceberg"),
    )
