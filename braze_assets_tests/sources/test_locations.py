"""Each location (local CSV, S3 CSV glob, S3 Parquet, S3 JSON Lines, Postgres table and query) loads
the same records into raw_<source>: the same rows, values, column order and row numbers."""

from __future__ import annotations

import csv
import json

import duckdb
import pytest

from braze_assets.config.model import ProjectConfig
from braze_assets_tests.identity.fixtures import write_demo_sources
from braze_assets_tests.sources.helpers import (
    ECOMMERCE_CSV,
    ecommerce_entry,
    materialize,
    metadata,
    pg_table_from_csv,
    project,
    raw_rows,
)

pytestmark = pytest.mark.integration


def _upload(client, bucket: str, key: str, path) -> None:
    client.upload_file(str(path), bucket, key)


def test_every_location_loads_the_same_rows_as_the_csv(
    tmp_path, pg, postgres_server, s3_env, monkeypatch
):
    conn, schema = pg
    client, bucket = s3_env
    write_demo_sources(tmp_path, 120)
    source_csv = tmp_path / ECOMMERCE_CSV
    monkeypatch.setenv("BRAZE_ASSETS_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("CRM_DATABASE_URL", postgres_server.url())

    # S3: the CSV split in two objects under a prefix (read by a glob), Parquet and JSON Lines.
    with source_csv.open(newline="") as fh:
        records = list(csv.DictReader(fh))
    half = len(records) // 2
    for part, chunk in enumerate((records[:half], records[half:])):
        path = tmp_path / f"part{part}.csv"
        with path.open("w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(records[0]))
            writer.writeheader()
            writer.writerows(chunk)
        _upload(client, bucket, f"exports/csv/2024/part-{part}.csv", path)
    _upload(client, bucket, "exports/csv/README.txt", source_csv)  # not matched by the glob
    parquet = tmp_path / "accounts.parquet"
    with duckdb.connect() as con:
        con.execute(
            f"COPY (SELECT * FROM read_csv('{source_csv}', all_varchar = true)) TO '{parquet}' (FORMAT parquet)"
        )
    _upload(client, bucket, "exports/parquet/accounts.parquet", parquet)
    jsonl = tmp_path / "accounts.jsonl"
    jsonl.write_text("".join(json.dumps(r) + "\n" for r in records))
    _upload(client, bucket, "exports/json/accounts.jsonl", jsonl)

    pg_table_from_csv(conn, schema, "accounts", source_csv)

    config = project(
        ecommerce_entry("local_csv", path=ECOMMERCE_CSV),
        ecommerce_entry("s3_csv", path=f"s3://{bucket}/exports/csv/**/*.csv"),
        ecommerce_entry("s3_parquet", path=f"s3://{bucket}/exports/parquet/accounts.parquet"),
        ecommerce_entry("s3_jsonl", path=f"s3://{bucket}/exports/json/*.jsonl"),
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

    expected = raw_rows(warehouse, "raw_local_csv")
    assert len(expected) == len(records) > 50
    for name in ("s3_csv", "s3_parquet", "s3_jsonl", "pg_table", "pg_query"):
        assert raw_rows(warehouse, f"raw_{name}") == expected, name

    with duckdb.connect(str(warehouse), read_only=True) as con:
        files = con.execute("SELECT DISTINCT _source_file FROM raw_s3_csv ORDER BY 1").fetchall()
        secretless = con.execute("SELECT DISTINCT _source_file FROM raw_pg_table").fetchall()
    assert files == [
        (f"s3://{bucket}/exports/csv/2024/part-0.csv",),
        (f"s3://{bucket}/exports/csv/2024/part-1.csv",),
    ]
    assert secretless == [(f"postgres table {schema}.accounts via $CRM_DATABASE_URL",)]
    table_meta = metadata(result, "raw_pg_table")
    assert table_meta["load_mode"] == "full" and table_meta["rows_read"] == len(records)
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
    orders.write_text(
        "order_id,account_id,ordered_at,revenue,items\n"
        "O1,A00001,2024-02-01 10:00:00,12.50,1\nO2,A00002,2024-02-02 11:00:00,,2\n"
        "O3,A00001,2024-02-03 12:00:00,3,\n"
    )
    _upload(client, bucket, "orders/2024/orders.csv", orders)
    pg_table_from_csv(
        conn, schema, "orders", orders, timestamps=("ordered_at",), primary_key="order_id"
    )

    def txn(name: str, **location) -> dict:
        return {
            "name": name,
            "primary_key": "order_id",
            "source": "ecommerce",
            "customer_key": "account_id",
            "ordered_at": "ordered_at",
            "revenue": "revenue",
            "items": "items",
            "channel_value": "web",
            **location,
        }

    config = ProjectConfig.model_validate(
        {
            "sources": [ecommerce_entry("ecommerce", path=ECOMMERCE_CSV)],
            "transactions": [
                txn("local", path=str(orders)),
                txn("s3", path=f"s3://{bucket}/orders/*/orders.csv"),
                txn("pg", postgres={"connection_env": "SHOP_DB", "table": f"{schema}.orders"}),
            ],
        }
    )
    warehouse = tmp_path / "warehouse.duckdb"
    result = materialize(config, warehouse)
    assert result.success
    expected = raw_rows(warehouse, "raw_txn_local")
    assert len(expected) == 3
    assert raw_rows(warehouse, "raw_txn_s3") == expected
    assert raw_rows(warehouse, "raw_txn_pg") == expected
    assert metadata(result, "raw_txn_pg")["load_mode"] == "full"
