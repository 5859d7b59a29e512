from __future__ import annotations

import datetime as dt

import duckdb
import polars as pl
import pytest

from braze_assets.sync.config import ResolvedSyncSettings
from braze_assets.sync.runner import sync_destination
from braze_assets.sync.tables import KEY_ID_SQL, SNAPSHOTS, VALUE_HASH_SQL, ensure_tables

DAY1 = dt.date(2026, 11, 1)
DAY2 = dt.date(2026, 11, 2)


@pytest.fixture
def con(tmp_path):
    connection = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    ensure_tables(connection)
    yield connection
    connection.close()


def put_snapshot(con, day, rows, destination="braze_us"):
    """rows: (identifier, attribute, element, kind, attr_type, billable, value_json)."""
    con.execute(
        f"DELETE FROM {SNAPSHOTS} WHERE snapshot_date = ? AND destination = ?", [day, destination]
    )
    names = ["identifier", "attribute", "element", "kind", "attr_type", "billable", "value_json"]
    frame = pl.DataFrame(
        rows, schema=names, orient="row", schema_overrides={"billable": pl.Boolean}
    )
    con.register("_put_snapshot", frame)
    con.execute(
        f"""INSERT INTO {SNAPSHOTS} SELECT ?::DATE, ?, identifier, attribute, element, {KEY_ID_SQL}, kind,
                   attr_type, billable, value_json, {VALUE_HASH_SQL} FROM _put_snapshot""",
        [day, destination],
    )
    con.unregister("_put_snapshot")


def value(identifier, attribute, text, attr_type="string", billable=True):
    return (identifier, attribute, "", "value", attr_type, billable, text)


def member_bool(identifier, attribute):
    return (identifier, attribute, "", "membership_bool", "boolean", True, "true")


def member_array(identifier, attribute, element):
    return (identifier, attribute, element, "membership_array", "array", True, f'"{element}"')


def destination_config(name="braze_us"):
    from braze_assets.attributes.config import AttributeMapping, DestinationConfig

    return DestinationConfig(
        name=name,
        identifier="external_id",
        identifier_column="external_id",
        attributes=[
            AttributeMapping(
                name="loyalty_tier", column="loyalty_tier", type="string", nulls="clear"
            ),
            AttributeMapping(name="lifetime_value", column="lifetime_value", type="decimal(10,2)"),
            AttributeMapping(name="churn_score", column="churn_score", type="float"),
        ],
    )


def put_attribute_rows(con, rows, destination="braze_us"):
    """rows: (customer_id, identifier, external_id, loyalty_tier, lifetime_value, churn_score)
    -> braze_customer_attributes, replacing the destination's rows."""
    con.execute("""CREATE TABLE IF NOT EXISTS braze_customer_attributes (
        destination VARCHAR, customer_id VARCHAR, identifier VARCHAR, external_id VARCHAR,
        loyalty_tier VARCHAR, lifetime_value DECIMAL(10,2), churn_score DOUBLE)""")
    con.execute("DELETE FROM braze_customer_attributes WHERE destination = ?", [destination])
    if rows:
        con.executemany(
            "INSERT INTO braze_customer_attributes VALUES (?, ?, ?, ?, ?, ?, ?)",
            [[destination, *row] for row in rows],
        )


def put_customer_attributes(con, rows, destination="braze_us"):
    """rows: (external_id, loyalty_tier, lifetime_value, churn_score) -> braze_customer_attributes."""
    put_attribute_rows(
        con,
        [(f"c-{ext}", ext, ext, tier, ltv, score) for ext, tier, ltv, score in rows],
        destination,
    )


def put_member_rows(con, rows, destination="braze_us"):
    """rows: (campaign, customer_id, group, mode, attribute, value) -> audience_members, replacing
    every row."""
    con.execute("""CREATE TABLE IF NOT EXISTS audience_members (
        campaign VARCHAR NOT NULL, audience VARCHAR NOT NULL, destination VARCHAR NOT NULL,
        customer_id VARCHAR NOT NULL, member_group VARCHAR NOT NULL, membership_mode VARCHAR NOT NULL,
        membership_attribute VARCHAR NOT NULL, membership_value VARCHAR, run_id VARCHAR NOT NULL,
        computed_at TIMESTAMP NOT NULL)""")
    con.execute("DELETE FROM audience_members")
    if rows:
        con.executemany(
            "INSERT INTO audience_members VALUES (?, 'all', ?, ?, ?, ?, ?, ?, 'r1', now())",
            [[c, destination, cid, g, mode, attr, v] for c, cid, g, mode, attr, v in rows],
        )


def put_members(con, rows, destination="braze_us"):
    """rows: (campaign, external_id, group, mode, attribute, value) -> audience_members."""
    put_member_rows(con, [(c, f"c-{ext}", *rest) for c, ext, *rest in rows], destination)


def sync_us(
    con, client, journal_root, *, destination="braze_us", clear=(), dry_run=False, **settings
):
    """sync_destination for a test destination identified by external_id; `settings` go to
    ResolvedSyncSettings."""
    return sync_destination(
        con,
        client,
        destination=destination,
        identifier_type="external_id",
        clear_attributes=clear,
        settings=ResolvedSyncSettings(destination=destination, **settings),
        journal_root=journal_root,
        dry_run=dry_run,
    )
