"""A source loaded incrementally gives the customer 360 a full reload gives, and a row deleted at
the source leaves the customer 360: raw load, identity and profile materialised through Dagster.
For a Postgres table, a Delta table on S3 and a local Iceberg table (hard deletes, found by the key
scan), and a CSV on GCS (deletes marked in a soft-delete column)."""

from __future__ import annotations

import csv
import io
import shutil
from datetime import datetime, timedelta

import duckdb
import pytest
from psycopg import sql

from braze_assets.defs.customer_360.profile import build_profile_assets
from braze_assets.defs.identity.assets import build_identity_assets
from braze_assets.defs.sources.assets import build_source_assets
from braze_assets.identity.config import IdentityConfig
from braze_assets_tests.identity.fixtures import write_demo_sources
from braze_assets_tests.sources.helpers import (
    ECOMMERCE_CSV,
    ecommerce_entry,
    materialize,
    metadata,
    pg_table_from_csv,
    project,
    records,
)
from braze_assets_tests.sources.lake import arrow_table, delta_table, iceberg_table, write_delta

pytestmark = pytest.mark.integration

PEOPLE = 400


def _customer_360(warehouse) -> list[tuple]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute("SELECT * FROM customer_360 ORDER BY customer_id").fetchall()


def _customer_of(warehouse, record_id: str) -> str | None:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        row = con.execute(
            "SELECT customer_id FROM unified_coalesced WHERE record_id = ?", [record_id]
        ).fetchone()
    return row[0] if row else None


class Ecommerce:
    """The demo's ecommerce records kept in one location, changed the way that location changes."""

    def __init__(self, kind: str, tmp_path, request):
        self.kind, self.tmp = kind, tmp_path
        self.rows = records(tmp_path / ECOMMERCE_CSV)
        if kind == "postgres":
            self.conn, schema = request.getfixturevalue("pg")
            server = request.getfixturevalue("postgres_server")
            request.getfixturevalue("monkeypatch").setenv("CRM_DATABASE_URL", server.url())
            self.columns = pg_table_from_csv(
                self.conn, schema, "accounts", tmp_path / ECOMMERCE_CSV
            )
            self.name = sql.Identifier(schema, "accounts")
            self.entry = {
                "postgres": {"connection_env": "CRM_DATABASE_URL", "table": f"{schema}.accounts"}
            }
        else:
            for row in self.rows:
                row["deleted_at"] = ""
        if kind == "delta_s3":
            _, bucket = request.getfixturevalue("s3_env")
            self.uri = f"s3://{bucket}/lake/ecommerce"
            write_delta(self.uri, self._arrow(self.rows))
            self.entry = {"path": self.uri, "format": "delta"}
        elif kind == "iceberg_local":
            self.table = iceberg_table(
                tmp_path, f"file://{tmp_path / 'ice'}", self._arrow(self.rows)
            )
            self.entry = {
                "path": self.table.location().removeprefix("file://"),
                "format": "iceberg",
            }
        elif kind == "gs_csv":
            self.bucket = request.getfixturevalue("gcs_env")
            self._upload()
            self.entry = {"path": f"gs://{self.bucket.name}/ecommerce/accounts.csv"}
        load = {"late_tolerance_minutes": 0, "key_scan_every_hours": 0}
        if kind == "gs_csv":
            load.update(mode="incremental", soft_delete_column="deleted_at")
        self.entry["load"] = load

    @staticmethod
    def _arrow(rows):
        return arrow_table(rows, timestamps=("updated_at",))

    def _upload(self) -> None:
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=list(self.rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(self.rows)
        self.bucket.blob("ecommerce/accounts.csv").upload_from_string(out.getvalue())

    def update(self, changed: list[dict], removed: list[str]) -> None:
        """Replace rows by account_id (`changed`), drop `removed` keys, as the location does it."""
        by_key = {r["account_id"]: r for r in changed}
        self.rows = [
            by_key.get(r["account_id"], r) for r in self.rows if r["account_id"] not in removed
        ]
        if self.kind == "gs_csv":
            self._upload()
            return
        keys = [*by_key, *removed]
        if self.kind == "postgres":
            update = sql.SQL("UPDATE {} SET {} WHERE account_id = %s").format(
                self.name,
                sql.SQL(", ").join(
                    sql.SQL("{} = %s").format(sql.Identifier(c)) for c in self.columns
                ),
            )
            for row in changed:
                # Empty CSV fields are NULL in the table, as COPY loaded them.
                self.conn.execute(
                    update, [*(row[c] or None for c in self.columns), row["account_id"]]
                )
            for key in removed:
                self.conn.execute(
                    sql.SQL("DELETE FROM {} WHERE account_id = %s").format(self.name), [key]
                )
        elif self.kind == "delta_s3":
            listed = ", ".join(f"'{k}'" for k in keys)
            delta_table(self.uri).delete(f"account_id IN ({listed})")
            if changed:
                write_delta(self.uri, self._arrow(changed), mode="append")
        else:
            from pyiceberg.expressions import In

            self.table.delete(In("account_id", keys))
            if changed:
                self.table.append(self._arrow(changed))

    def delete(self, account: str, at: str) -> None:
        if self.kind == "gs_csv":  # marked deleted, as an update
            row = next(r for r in self.rows if r["account_id"] == account)
            self.update([{**row, "deleted_at": at, "updated_at": at}], [])
        else:
            self.update([], [account])


@pytest.mark.parametrize("kind", ["postgres", "delta_s3", "iceberg_local", "gs_csv"])
def test_incremental_customer_360_equals_full_reload_and_deletes_flow(
    kind, tmp_path, request, monkeypatch
):
    write_demo_sources(tmp_path, PEOPLE)
    monkeypatch.setenv("BRAZE_ASSETS_DATA_DIR", str(tmp_path))
    ecommerce_source = Ecommerce(kind, tmp_path, request)
    demo = project(keep_demo=True).model_dump(exclude_none=True)["sources"]
    config = project(
        ecommerce_entry("ecommerce", **ecommerce_source.entry),
        *[s for s in demo if s["name"] != "ecommerce"],
    )
    identity = IdentityConfig.model_validate({"training": {"u_max_pairs": 2e5}})
    assets = [
        *build_source_assets(config),
        *build_identity_assets(config, identity),
        *build_profile_assets(config, identity),
    ]
    warehouse = tmp_path / "warehouse.duckdb"
    assert materialize(config, warehouse, assets=assets).success

    rows = ecommerce_source.rows
    newest = max(datetime.fromisoformat(r["updated_at"]) for r in rows)
    later = (newest + timedelta(days=1)).isoformat(sep=" ")
    step = 100  # 1% of the rows
    changed = [
        {**r, "email": f"moved.{r['account_id']}@mail.test", "city": "Denver", "updated_at": later}
        for r in sorted(rows, key=lambda r: r["account_id"])[::step]
    ]
    assert len(changed) >= 2
    ecommerce_source.update(changed, [])

    reloaded = tmp_path / "reloaded.duckdb"
    shutil.copy(warehouse, reloaded)
    loaded = metadata(materialize(config, warehouse, assets=assets), "raw_ecommerce")
    assert (loaded["load_mode"], loaded["rows_read"]) == ("incremental", len(changed))
    full = metadata(materialize(config, reloaded, assets=assets, full_reload=True), "raw_ecommerce")
    assert (full["load_mode"], full["rows_read"]) == ("full", len(rows))
    after_incremental = _customer_360(warehouse)
    assert after_incremental == _customer_360(reloaded)
    assert len(after_incremental) > PEOPLE // 2

    # A record that is its customer's only record: deleting it at the source removes the customer.
    with duckdb.connect(str(warehouse), read_only=True) as con:
        record_id, customer_id = con.execute(
            "SELECT min(record_id), customer_id FROM unified_coalesced GROUP BY customer_id "
            "HAVING count(*) = 1 AND min(source) = 'ecommerce' ORDER BY customer_id LIMIT 1"
        ).fetchone()
    account = record_id.split(":", 1)[1]
    ecommerce_source.delete(account, (newest + timedelta(days=2)).isoformat(sep=" "))
    deleted = metadata(materialize(config, warehouse, assets=assets), "raw_ecommerce")
    assert deleted["rows_deleted"] == 1
    assert deleted["rows_read"] == (1 if kind == "gs_csv" else 0)
    assert _customer_of(warehouse, record_id) is None
    assert customer_id not in {row[0] for row in _customer_360(warehouse)}
