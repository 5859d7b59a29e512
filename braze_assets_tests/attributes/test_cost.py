"""Cost insight from the snapshots: change share, data points per month, high-churn advice."""

from __future__ import annotations

import duckdb
import pytest

from braze_assets.attributes import DestinationConfig, attribute_change_cost

pytestmark = pytest.mark.integration

DESTINATION = DestinationConfig.model_validate(
    {
        "name": "braze",
        "identifier": "external_id",
        "identifier_column": "external_id",
        "attributes": [
            {"name": "days_since_order", "column": "days_since_latest_order", "type": "integer"},
            {"name": "score", "column": "l12m_order_revenue", "type": "float"},
            {"name": "ratio", "column": "l12m_order_revenue", "type": "decimal(12,6)"},
            {"name": "first_name", "column": "given_name", "type": "string"},
            {"name": "email_subscribe", "column": "email", "type": "string"},
        ],
    }
)


def snapshots(con, days: int, profiles: int = 100) -> None:
    # Day by day: a counter that ticks for everyone, a float with noise, a name that changes once,
    # and a non-billable subscription state that flips for everyone every day.
    con.execute(f"""
        CREATE OR REPLACE TABLE attribute_snapshots AS
        SELECT DATE '2026-01-01' + CAST(day AS INTEGER) AS snapshot_date, 'braze' AS destination,
               'u' || i AS identifier, a.attribute,
               CASE a.attribute
                   WHEN 'days_since_order' THEN CAST(10 + day AS VARCHAR)
                   WHEN 'score' THEN printf('%.6f', i * 1.000001 + day * 0.123457)
                   WHEN 'ratio' THEN printf('%.6f', i * 1.000001 + day * 0.123457)
                   WHEN 'email_subscribe' THEN CASE WHEN day % 2 = 0 THEN '"opted_in"' ELSE '"unsubscribed"' END
                   ELSE CASE WHEN i = 1 AND day >= 3 THEN '"Bob"' ELSE '"Ann"' END
               END AS value_json
        FROM range(0, {days}) d(day), range(0, {profiles}) u(i),
             (VALUES ('days_since_order'), ('score'), ('ratio'), ('first_name'), ('email_subscribe')) a(attribute)
        UNION ALL SELECT DATE '2026-01-01', 'other', 'x', 'first_name', '"Zed"'
    """)


def test_no_snapshot_table_gives_empty_result(tmp_path):
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    assert attribute_change_cost(con, DESTINATION, 30) == []


def test_change_share_and_data_points(tmp_path):
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    snapshots(con, days=5)
    insight = {r["attribute"]: r for r in attribute_change_cost(con, DESTINATION, 30)}
    counter = insight["days_since_order"]
    assert counter["days_compared"] == 4 and counter["profiles"] == 100
    assert counter["daily_change_share"] == 1.0 and counter["data_points_per_month"] == 3000
    assert counter["high_churn"] and counter["pattern"] == "relative-date counter"
    assert "bucket" in counter["suggestion"]
    score = insight["score"]
    assert (
        score["high_churn"]
        and score["pattern"] == "high-precision number"
        and "round" in score["suggestion"]
    )
    # Declared decimal, so only the values show the precision.
    assert insight["ratio"]["pattern"] == "high-precision number"
    name = insight["first_name"]
    # One change (day 2 -> 3) over four compared days for 100 profiles.
    assert name["changes_per_day"] == 0.25 and name["daily_change_share"] == 0.0025
    assert not name["high_churn"] and name["suggestion"] is None
    subscribe = insight["email_subscribe"]
    assert subscribe["daily_change_share"] == 1.0 and not subscribe["billable"]
    assert subscribe["data_points_per_month"] == 0


def test_window_limits_days(tmp_path):
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    snapshots(con, days=10)
    insight = {r["attribute"]: r for r in attribute_change_cost(con, DESTINATION, 2)}
    assert insight["days_since_order"]["days_compared"] == 2
    assert insight["first_name"]["changes_per_day"] == 0.0


def test_removed_values_count_as_changes(tmp_path):
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    con.execute("""CREATE TABLE attribute_snapshots AS SELECT * FROM (VALUES
        (DATE '2026-01-01', 'braze', 'u1', 'first_name', '"Ann"'),
        (DATE '2026-01-01', 'braze', 'u2', 'first_name', '"Bo"'),
        (DATE '2026-01-03', 'braze', 'u2', 'first_name', '"Bo"')
    ) t(snapshot_date, destination, identifier, attribute, value_json)""")
    [row] = attribute_change_cost(con, DESTINATION, 30)
    # u1's value disappeared across a two-day gap: one change spread over two days.
    assert row["days_compared"] == 1 and row["changes_per_day"] == 0.5


def test_array_elements_compared_one_by_one(tmp_path):
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    con.execute("""CREATE TABLE attribute_snapshots AS SELECT * FROM (VALUES
        (DATE '2026-01-01', 'braze', 'u1', 'audiences', 'spring', '"spring"'),
        (DATE '2026-01-01', 'braze', 'u1', 'audiences', 'vip', '"vip"'),
        (DATE '2026-01-02', 'braze', 'u1', 'audiences', 'vip', '"vip"'),
        (DATE '2026-01-02', 'braze', 'u1', 'audiences', 'summer', '"summer"')
    ) t(snapshot_date, destination, identifier, attribute, element, value_json)""")
    [row] = attribute_change_cost(con, DESTINATION, 30)
    # "spring" removed and "summer" added: two data points; "vip" unchanged.
    assert row["attribute"] == "audiences" and row["changes_per_day"] == 2.0
