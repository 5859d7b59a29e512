"""Incremental Postgres loads: only changed rows are read, the result equals a full reload, late rows
within the tolerance are caught, and deletions (soft, or found by the key scan) leave raw_<source>."""

from __future__ import annotations

from datetime import datetime, timedelta

import dagster as dg
import duckdb
import pytest
from dagster_duckdb import DuckDBResource

from braze_assets.config.model import ProjectConfig
from braze_assets.defs.sources.assets import build_source_assets
from braze_assets.sources.incremental import load_source
from braze_assets_tests.sources.helpers import materialize, metadata, raw_rows

pytestmark = pytest.mark.integration

ROWS = 10_000


def _crm(conn, schema: str, rows: int = ROWS, *, soft_delete: bool = False) -> None:
    """A CRM customers table: distinct update times through 2024, an index on updated_at."""
    extra = ", deleted_at timestamptz" if soft_delete else ""
    conn.execute(
        f"CREATE TABLE {schema}.customers (customer_id text PRIMARY KEY, email text, "
        f"first_name text, city text, updated_at timestamptz NOT NULL{extra})"
    )
    conn.execute(
        f"INSERT INTO {schema}.customers (customer_id, email, first_name, city, updated_at) "
        "SELECT 'C' || lpad(i::text, 8, '0'), 'person' || i || '@mail.test', "
        "(ARRAY['Ann','Bob','Cy','Di'])[1 + i % 4], (ARRAY['Austin','Boston'])[1 + i % 2], "
        "timestamptz '2024-01-01 00:00:00+00' + i * interval '1 minute' "
        f"FROM generate_series(1, {rows}) AS i"
    )
    conn.execute(f"CREATE INDEX ON {schema}.customers (updated_at)")


def _config(schema: str, **load) -> ProjectConfig:
    return ProjectConfig.model_validate(
        {
            "sources": [
                {
                    "name": "crm",
                    "postgres": {
                        "connection_env": "CRM_DATABASE_URL",
                        "table": f"{schema}.customers",
                    },
                    "primary_key": "customer_id",
                    "updated_at": "updated_at",
                    "load": load,
                    "columns": {"email": "email", "first_name": "given_name", "city": "city"},
                }
            ]
        }
    )


@pytest.fixture
def crm_env(pg, postgres_server, monkeypatch):
    monkeypatch.setenv("CRM_DATABASE_URL", postgres_server.url())
    return pg


def test_second_run_reads_only_the_changed_rows_and_equals_a_full_reload(tmp_path, crm_env):
    conn, schema = crm_env
    _crm(conn, schema)
    config = _config(schema, late_tolerance_minutes=0)
    warehouse = tmp_path / "incremental.duckdb"

    first = metadata(materialize(config, warehouse), "raw_crm")
    assert (first["load_mode"], first["rows_read"]) == ("full", ROWS)
    assert first["watermark"].startswith("2024-01-07 22:40:00")

    # 1% of the rows change; their updated_at moves to now.
    changed = conn.execute(
        f"UPDATE {schema}.customers SET email = 'new.' || email, updated_at = now() "
        "WHERE right(customer_id, 2) = '00'"
    ).rowcount
    assert changed == ROWS // 100

    second = metadata(materialize(config, warehouse), "raw_crm")
    assert (second["load_mode"], second["rows_read"]) == ("incremental", changed)
    assert second["rows_deleted"] == 0 and second["dagster/row_count"] == ROWS
    third = metadata(materialize(config, warehouse), "raw_crm")
    assert (third["load_mode"], third["rows_read"]) == ("incremental", 0)

    full = tmp_path / "full.duckdb"
    materialize(config, full)
    assert raw_rows(warehouse, "raw_crm") == raw_rows(full, "raw_crm")
    with duckdb.connect(str(warehouse), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM raw_crm WHERE email LIKE 'new.%'").fetchone() == (
            changed,
        )

    again = metadata(materialize(config, warehouse, full_reload=True), "raw_crm")
    assert (again["load_mode"], again["rows_read"]) == ("full", ROWS)
    assert again["full_load_reason"] == "full reload requested"
    assert raw_rows(warehouse, "raw_crm") == raw_rows(full, "raw_crm")


def test_late_rows_within_the_tolerance_are_read(tmp_path, crm_env):
    conn, schema = crm_env
    _crm(conn, schema, 1_000)
    config = _config(schema, late_tolerance_minutes=60)
    warehouse = tmp_path / "w.duckdb"
    materialize(config, warehouse)  # watermark: the newest row, 2024-01-01 16:40 UTC
    # Committed after the load, stamped before the watermark: one 30 minutes late, one 2 hours.
    conn.execute(
        f"UPDATE {schema}.customers SET email = 'late@mail.test', "
        "updated_at = timestamptz '2024-01-01 16:10:00+00' WHERE customer_id = 'C00000005'"
    )
    conn.execute(
        f"UPDATE {schema}.customers SET email = 'too.late@mail.test', "
        "updated_at = timestamptz '2024-01-01 14:40:00+00' WHERE customer_id = 'C00000006'"
    )
    second = metadata(materialize(config, warehouse), "raw_crm")
    # Read: the late row plus the rows stamped within the hour before the watermark (16:40-15:40).
    assert second["rows_read"] == 1 + 60
    emails = dict(
        duckdb.connect(str(warehouse), read_only=True)
        .execute(
            "SELECT customer_id, email FROM raw_crm WHERE customer_id IN ('C00000005', 'C00000006')"
        )
        .fetchall()
    )
    assert emails == {"C00000005": "late@mail.test", "C00000006": "person6@mail.test"}


def test_hard_deletes_leave_raw_on_the_key_scan_cadence(tmp_path, crm_env):
    conn, schema = crm_env
    _crm(conn, schema, 500)
    config = _config(schema, key_scan_every_hours=24)
    entry = config.sources[0]
    start = datetime(2026, 1, 1, 8, 0)
    with duckdb.connect(str(tmp_path / "w.duckdb")) as con:
        assert load_source(con, entry, tmp_path, now=start).rows_read == 500
        conn.execute(
            f"DELETE FROM {schema}.customers WHERE customer_id IN ('C00000007', 'C00000300')"
        )

        early = load_source(con, entry, tmp_path, now=start + timedelta(hours=1))
        assert (early.mode, early.keys_scanned, early.rows_deleted) == ("incremental", None, 0)
        assert early.report.rows == 500

        due = load_source(con, entry, tmp_path, now=start + timedelta(hours=25))
        assert (due.keys_scanned, due.rows_deleted, due.report.rows) == (498, 2, 498)
        gone = con.execute(
            "SELECT count(*) FROM raw_crm WHERE customer_id IN ('C00000007', 'C00000300')"
        ).fetchone()
        assert gone == (0,)
        # The scan time moved: the next load an hour later does not scan again.
        later = load_source(con, entry, tmp_path, now=start + timedelta(hours=26))
        assert later.keys_scanned is None


def test_soft_deleted_rows_leave_raw(tmp_path, crm_env):
    conn, schema = crm_env
    _crm(conn, schema, 300, soft_delete=True)
    config = _config(
        schema, soft_delete_column="deleted_at", key_scan_every_hours=None, late_tolerance_minutes=0
    )
    warehouse = tmp_path / "w.duckdb"
    conn.execute(
        f"UPDATE {schema}.customers SET deleted_at = now() WHERE customer_id = 'C00000001'"
    )
    first = metadata(materialize(config, warehouse), "raw_crm")
    assert first["dagster/row_count"] == 299  # already deleted before the first load

    conn.execute(
        f"UPDATE {schema}.customers SET deleted_at = now(), updated_at = now() "
        "WHERE customer_id = 'C00000002'"
    )
    second = metadata(materialize(config, warehouse), "raw_crm")
    assert (second["load_mode"], second["rows_read"], second["rows_deleted"]) == (
        "incremental",
        1,
        1,
    )
    assert second["dagster/row_count"] == 298
    ids = {r[0] for r in raw_rows(warehouse, "raw_crm")}
    assert "C00000002" not in ids and "C00000001" not in ids and "C00000003" in ids


def test_a_failed_load_keeps_the_raw_table_and_the_watermark(
    tmp_path, crm_env, postgres_server, monkeypatch
):
    conn, schema = crm_env
    _crm(conn, schema, 200)
    config = _config(schema, late_tolerance_minutes=0)
    warehouse = tmp_path / "w.duckdb"
    materialize(config, warehouse)

    def state():
        # Through the resource: the failed run's traceback may still hold a connection with its
        # config, and DuckDB refuses a second config for one file in one process.
        with DuckDBResource(database=str(warehouse)).get_connection() as con:
            return (
                con.execute("SELECT watermark FROM _source_loads").fetchall(),
                con.execute("SELECT * FROM raw_crm ORDER BY _row_number").fetchall(),
            )

    before = state()
    conn.execute(
        f"UPDATE {schema}.customers SET email = 'x@mail.test', updated_at = now() "
        "WHERE customer_id = 'C00000010'"
    )
    monkeypatch.setenv("CRM_DATABASE_URL", postgres_server.url(password="wrong"))
    failed = dg.materialize(
        build_source_assets(config),
        resources={"duckdb": DuckDBResource(database=str(warehouse))},
        raise_on_error=False,
    )
    assert not failed.success
    assert state() == before
    monkeypatch.setenv("CRM_DATABASE_URL", postgres_server.url())
    assert metadata(materialize(config, warehouse), "raw_crm")["rows_read"] == 1


def test_duplicate_keys_stay_counted_across_incremental_loads(tmp_path, crm_env):
    conn, schema = crm_env
    _crm(conn, schema, 300)
    # A query source may repeat keys: here the first nine customers appear twice.
    query = (
        f"SELECT * FROM {schema}.customers UNION ALL "
        f"SELECT * FROM {schema}.customers WHERE customer_id < 'C00000010'"
    )
    entry = ProjectConfig.model_validate(
        {
            "sources": [
                {
                    **_config(schema).sources[0].model_dump(exclude_none=True),
                    "postgres": {"connection_env": "CRM_DATABASE_URL", "query": query},
                    "load": {"late_tolerance_minutes": 0, "key_scan_every_hours": 0},
                }
            ]
        }
    ).sources[0]
    start = datetime(2026, 1, 1)
    with duckdb.connect(str(tmp_path / "w.duckdb")) as con:
        assert load_source(con, entry, tmp_path, now=start).report.duplicate_keys == 9
        conn.execute(
            f"UPDATE {schema}.customers SET updated_at = now() "
            "WHERE customer_id IN ('C00000003', 'C00000100')"
        )
        conn.execute(f"DELETE FROM {schema}.customers WHERE customer_id = 'C00000004'")
        load = load_source(con, entry, tmp_path, now=start + timedelta(hours=1))
        assert (load.rows_read, load.rows_deleted) == (3, 2)
        assert (
            load.report.duplicate_keys
            == 8
            == con.execute("SELECT count(*) - count(DISTINCT customer_id) FROM raw_crm").fetchone()[
                0
            ]
        )
