"""A Postgres source loaded incrementally gives the customer 360 a full reload gives, and a row deleted
at the source leaves the customer 360: raw load, identity and profile materialised through Dagster."""

from __future__ import annotations

import shutil

import duckdb
import pytest

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
)

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


def test_incremental_customer_360_equals_full_reload_and_deletes_flow(
    tmp_path, pg, postgres_server, monkeypatch
):
    conn, schema = pg
    write_demo_sources(tmp_path, PEOPLE)
    monkeypatch.setenv("BRAZE_ASSETS_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("CRM_DATABASE_URL", postgres_server.url())
    pg_table_from_csv(conn, schema, "accounts", tmp_path / ECOMMERCE_CSV)
    ecommerce = ecommerce_entry(
        "ecommerce",
        postgres={"connection_env": "CRM_DATABASE_URL", "table": f"{schema}.accounts"},
        load={"late_tolerance_minutes": 0, "key_scan_every_hours": 0},
    )
    demo = project(keep_demo=True).model_dump(exclude_none=True)["sources"]
    config = project(ecommerce, *[s for s in demo if s["name"] != "ecommerce"])
    identity = IdentityConfig.model_validate({"training": {"u_max_pairs": 2e5}})
    assets = [
        *build_source_assets(config),
        *build_identity_assets(config, identity),
        *build_profile_assets(config, identity),
    ]
    warehouse = tmp_path / "warehouse.duckdb"
    assert materialize(config, warehouse, assets=assets).success

    accounts = conn.execute(f"SELECT count(*) FROM {schema}.accounts").fetchone()[0]
    changed = conn.execute(
        f"UPDATE {schema}.accounts SET email = 'moved.' || account_id || '@mail.test', "
        "city = 'Denver', updated_at = now() WHERE account_id IN "
        f"(SELECT account_id FROM {schema}.accounts ORDER BY account_id "
        f"LIMIT {max(1, accounts // 100)})"
    ).rowcount
    assert changed == accounts // 100 >= 2

    reloaded = tmp_path / "reloaded.duckdb"
    shutil.copy(warehouse, reloaded)
    incremental = materialize(config, warehouse, assets=assets)
    loaded = metadata(incremental, "raw_ecommerce")
    assert (loaded["load_mode"], loaded["rows_read"]) == ("incremental", changed)
    full = metadata(materialize(config, reloaded, assets=assets, full_reload=True), "raw_ecommerce")
    assert (full["load_mode"], full["rows_read"]) == ("full", accounts)
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
    conn.execute(f"DELETE FROM {schema}.accounts WHERE account_id = %s", [account])
    deleted = metadata(materialize(config, warehouse, assets=assets), "raw_ecommerce")
    assert (deleted["rows_read"], deleted["rows_deleted"]) == (0, 1)
    assert _customer_of(warehouse, record_id) is None
    assert customer_id not in {row[0] for row in _customer_360(warehouse)}
