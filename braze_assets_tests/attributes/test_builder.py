"""The builder on a small hand-made warehouse in a real DuckDB file."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import duckdb
import pytest

from braze_assets.attributes import (
    AttributeBuildError,
    DestinationConfig,
    build_attribute_source_view,
    build_braze_customer_attributes,
)

pytestmark = pytest.mark.integration

TODAY = dt.date(2026, 6, 1)
LONG_OK = "😀" * 255
LONG_BAD = "漢" * 256

CUSTOMERS = [
    # customer_id, external_id, given_name, surname, email, phone, city, country, birthdate, gender, loyalty_tier, nickname
    (
        "c1",
        "e1",
        "Ann",
        "Lee",
        "ann@example.com",
        "+14155552671",
        "Paris",
        "France",
        dt.date(1990, 2, 28),
        "female",
        "gold",
        LONG_OK,
    ),
    (
        "c2",
        "e2",
        "Bob",
        "Ng",
        "bad@",
        "123",
        "Berlin",
        "Deutschland",
        dt.date(2999, 1, 1),
        "unknown",
        "platinum-plus",
        LONG_BAD,
    ),
    ("c3", None, "Cy", "Zed", "cy@example.com", None, None, None, None, None, None, None),
    (
        "c4",
        "e4",
        "Di",
        "Q",
        None,
        "(415) 555-2672",
        None,
        "Narnia",
        dt.date(2000, 2, 29),
        "M",
        None,
        None,
    ),
    ("c5", "e5", "Ed", "Q", None, None, None, "usa", None, "Non-binary", None, None),
    ("c6", "e6", "Fay", "Q", None, None, None, None, None, None, None, None),
    ("c7", "e6", "Gus", "Q", None, None, None, None, None, None, None, None),
]


def destination_with(*attributes: dict) -> DestinationConfig:
    """The destination `braze`, by external_id, with these attributes."""
    return DestinationConfig.model_validate(
        {
            "name": "braze",
            "identifier": "external_id",
            "identifier_column": "external_id",
            "attributes": list(attributes),
        }
    )


def warehouse(path, *, transactions=True):
    con = duckdb.connect(str(path))
    con.execute("""
        CREATE TABLE customer_360 (customer_id VARCHAR, external_id VARCHAR, given_name VARCHAR, surname VARCHAR,
            email VARCHAR, phone VARCHAR, city VARCHAR, country VARCHAR, birthdate DATE, gender VARCHAR,
            loyalty_tier VARCHAR, nickname VARCHAR, updated_at TIMESTAMPTZ)""")
    con.executemany(
        "INSERT INTO customer_360 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, TIMESTAMPTZ '2026-01-01 12:00:00+02')",
        CUSTOMERS,
    )
    if transactions:
        con.execute("""
            CREATE TABLE transaction_attributes AS SELECT * FROM (VALUES
                ('c1', 12, 1234.567::DECIMAL(18,3), 1500.00::DECIMAL(18,2), 30, 'web'),
                ('c2', 1, 19.994::DECIMAL(18,3), 1000.00::DECIMAL(18,2), 90, 'x'),
                ('c4', 0, 0.000::DECIMAL(18,3), 99.99::DECIMAL(18,2), 400, 'abc')
            ) t(customer_id, l12m_order_frequency, l12m_order_revenue, lifetime_order_revenue,
                days_since_latest_order, preferred_channel)""")
    return con


def braze_destination(**overrides) -> DestinationConfig:
    attributes = [
        {"name": "first_name", "column": "given_name", "type": "string"},
        {"name": "email", "column": "email", "type": "string", "nulls": "clear"},
        {"name": "phone", "column": "phone", "type": "string"},
        {"name": "country", "column": "country", "type": "string"},
        {"name": "dob", "column": "birthdate", "type": "date"},
        {"name": "gender", "column": "gender", "type": "string"},
        {"name": "nickname", "column": "nickname", "type": "string"},
        {"name": "loyalty_status", "column": "loyalty_tier", "type": "varchar(8)"},
        {"name": "l12m_frequency", "column": "l12m_order_frequency", "type": "integer"},
        {"name": "l12m_monetary", "column": "l12m_order_revenue", "type": "decimal(12,2)"},
        {
            "name": "l12m_monetary_rounded",
            "column": "l12m_order_revenue",
            "type": "decimal(12,2)",
            "transform": {"round": {"step": 10}},
        },
        {
            "name": "high_value",
            "column": "lifetime_order_revenue",
            "type": "boolean",
            "transform": {"bucket": {"thresholds": [1000], "labels": [False, True]}},
        },
        {
            "name": "purchase_recency",
            "column": "days_since_latest_order",
            "type": "string",
            "transform": {
                "bucket": {"thresholds": [90, 365], "labels": ["active", "lapsing", "lapsed"]}
            },
        },
        {
            "name": "channel_code",
            "sql": "TRY_CAST(preferred_channel AS VARCHAR) || ''",
            "type": "string",
        },
        {"name": "updated", "column": "updated_at", "type": "datetime"},
        {"name": "opens", "column": "email_opens_30d", "type": "integer"},
    ]
    return DestinationConfig.model_validate(
        {
            "name": "braze",
            "identifier": "external_id",
            "identifier_column": "external_id",
            "attributes": attributes,
            **overrides,
        }
    )


def test_view_fills_missing_tables_with_typed_nulls(tmp_path):
    con = warehouse(tmp_path / "w.duckdb", transactions=False)
    filled = build_attribute_source_view(con)
    assert "transaction_attributes.l12m_order_revenue" in filled
    assert "engagement_attributes.email_opens_30d" in filled
    types = dict(
        con.execute(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_name = 'customer_attribute_source'"
        ).fetchall()
    )
    assert types["l12m_order_revenue"] == "DECIMAL(18,2)"
    assert types["email_opens_30d"] == "BIGINT"
    assert con.execute("SELECT count(*) FROM customer_attribute_source").fetchone()[0] == len(
        CUSTOMERS
    )


def test_view_requires_customer_360(tmp_path):
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    with pytest.raises(ValueError, match="customer_360 does not exist"):
        build_attribute_source_view(con)


@pytest.fixture
def built(tmp_path):
    con = warehouse(tmp_path / "w.duckdb")
    report = build_braze_customer_attributes(con, [braze_destination()], today=TODAY)
    rows = {
        r["identifier"]: r
        for r in con.execute("SELECT * FROM braze_customer_attributes").pl().to_dicts()
    }
    rejections = con.execute("SELECT * FROM braze_attribute_rejections").pl().to_dicts()
    return con, report, rows, rejections


def reasons(rejections, customer_id):
    return {r["attribute"]: r["reason"] for r in rejections if r["customer_id"] == customer_id}


def test_one_row_per_profile_with_identifier(built):
    _, report, rows, rejections = built
    assert sorted(rows) == ["e1", "e2", "e4", "e5"]
    assert report.rows == {"braze": 4}
    assert report.without_identifier == {"braze": 1}  # c3 has no external_id
    assert report.duplicate_identifiers == {"braze": 2}  # e6 is shared by c6 and c7
    shared = [r for r in rejections if r["attribute"] == "external_id"]
    assert {r["customer_id"] for r in shared} == {"c6", "c7"}
    assert shared[0]["reason"] == "identifier shared by 2 customers"


def test_valid_values_normalised_and_typed(built):
    _, _, rows, _ = built
    ann = rows["e1"]
    assert (
        ann["customer_id"] == "c1" and ann["external_id"] == "e1" and ann["destination"] == "braze"
    )
    assert ann["country"] == "FR" and ann["gender"] == "F" and ann["phone"] == "+14155552671"
    assert ann["dob"] == dt.date(1990, 2, 28)
    assert ann["nickname"] == LONG_OK  # 255 characters (emoji count as one each)
    assert ann["l12m_monetary"] == Decimal("1234.57")
    assert ann["l12m_monetary_rounded"] == Decimal("1230.00")
    assert ann["high_value"] is True and ann["purchase_recency"] == "active"
    assert ann["updated"] == dt.datetime(2026, 1, 1, 10, 0)  # stored in UTC
    assert ann["opens"] is None  # engagement not built yet: typed NULL
    assert rows["e4"]["phone"] == "+14155552672" and rows["e4"]["dob"] == dt.date(2000, 2, 29)
    assert rows["e5"]["country"] == "US" and rows["e5"]["gender"] == "O"
    # Bucket boundaries: a value equal to a threshold takes the upper label.
    assert rows["e2"]["high_value"] is True and rows["e2"]["purchase_recency"] == "lapsing"
    assert rows["e4"]["purchase_recency"] == "lapsed" and rows["e4"]["high_value"] is False


def test_invalid_values_rejected_with_reasons(built):
    _, report, rows, rejections = built
    bob = reasons(rejections, "c2")
    assert bob["email"].startswith("invalid email")
    assert bob["phone"] == "not a valid phone number"
    assert bob["dob"] == "date of birth in the future"
    assert bob["gender"].startswith("unrecognised gender")
    assert bob["nickname"] == "256 characters, over Braze's 255-character limit"
    assert bob["loyalty_status"] == "13 characters, over varchar(8)"
    assert (
        rows["e2"]["email"] is None
        and rows["e2"]["nickname"] is None
        and rows["e2"]["country"] == "DE"
    )
    assert reasons(rejections, "c4") == {"country": "not a recognised country name or ISO code"}
    value = next(
        r["value"] for r in rejections if r["customer_id"] == "c2" and r["attribute"] == "nickname"
    )
    assert value == LONG_BAD  # the offending value is reported whole
    counts = {(r["attribute"], r["reason"]): r["count"] for r in report.rejections}
    assert counts[("gender", bob["gender"])] == 1
    stats = {a["attribute"]: a for a in report.attributes}
    assert stats["email"] == {
        "destination": "braze",
        "attribute": "email",
        "type": "string",
        "values": 1,
        "nulls": 2,
        "invalid": 1,
    }


def test_unreadable_values_rejected(tmp_path):
    con = warehouse(tmp_path / "w.duckdb")
    con.execute("ALTER TABLE customer_360 ADD COLUMN points VARCHAR")
    con.execute(
        "UPDATE customer_360 SET points = CASE customer_id WHEN 'c1' THEN '120' WHEN 'c2' THEN 'lots' END"
    )
    dest = destination_with(
        {"name": "points", "sql": "points", "type": "integer"},
        {
            "name": "points_band",
            "sql": "points",
            "type": "string",
            "transform": {"bucket": {"thresholds": [100], "labels": ["low", "high"]}},
        },
    )
    build_braze_customer_attributes(con, [dest], today=TODAY)
    rows = {
        r[0]: r[1:]
        for r in con.execute(
            "SELECT identifier, points, points_band FROM braze_customer_attributes"
        ).fetchall()
    }
    assert rows["e1"] == (120, "high") and rows["e2"] == (None, None)
    got = {
        r[0]: r[1]
        for r in con.execute(
            "SELECT attribute, reason FROM braze_attribute_rejections WHERE customer_id = 'c2'"
        ).fetchall()
    }
    assert got == {
        "points": "cannot be read as integer",
        "points_band": "cannot be read as a number",
    }


def test_out_of_range_values_rejected(tmp_path):
    con = warehouse(tmp_path / "w.duckdb")
    dest = destination_with(
        {
            "name": "far_date",
            "sql": "CASE WHEN customer_id = 'c1' THEN DATE '2020-01-01' + 3000000 ELSE DATE '9999-12-31' END",
            "type": "date",
        },
        {
            "name": "far_time",
            "sql": "CASE WHEN customer_id = 'c1' THEN TIMESTAMP '9999-12-31 23:59:59' + INTERVAL 2 DAY END",
            "type": "datetime",
        },
        {
            "name": "ratio",
            "sql": "CASE WHEN customer_id = 'c1' THEN 'nan'::DOUBLE ELSE 0.5 END",
            "type": "float",
        },
        {
            "name": "amount",
            "sql": "CASE WHEN customer_id = 'c1' THEN 12345.6 ELSE 12.345 END",
            "type": "decimal(4,2)",
        },
    )
    build_braze_customer_attributes(con, [dest], today=TODAY)
    got = dict(
        con.execute(
            "SELECT attribute, reason FROM braze_attribute_rejections WHERE customer_id = 'c1'"
        ).fetchall()
    )
    assert got == {
        "far_date": "outside 0001-01-01..9999-12-31",
        "far_time": "outside 0001-01-01..9999-12-31",
        "ratio": "not a finite number",
        "amount": "out of range for decimal(4,2)",
    }
    row = con.execute(
        "SELECT far_date, ratio, amount FROM braze_customer_attributes WHERE identifier = 'e2'"
    ).fetchone()
    assert row == (dt.date(9999, 12, 31), 0.5, Decimal("12.35"))


def test_sample_payload_is_the_json_sent(built):
    _, report, _, _ = built
    payload = json.loads(report.sample_payload, parse_float=Decimal)
    assert payload["external_id"] == "e1" and payload["_update_existing_only"] is True
    assert payload["dob"] == "1990-02-28" and payload["l12m_monetary"] == Decimal("1234.57")
    assert payload["high_value"] is True and payload["updated"] == "2026-01-01T10:00:00.000Z"
    assert "opens" not in payload  # NULL with nulls: skip is left out


def test_user_alias_and_second_destination(tmp_path):
    con = warehouse(tmp_path / "w.duckdb")
    alias = DestinationConfig.model_validate(
        {
            "name": "crm",
            "identifier": "user_alias",
            "alias_name_column": "email",
            "alias_label_column": "loyalty_tier",
            "update_existing_only": False,
            "attributes": [{"name": "first_name", "column": "given_name", "type": "varchar(20)"}],
        }
    )
    report = build_braze_customer_attributes(con, [braze_destination(), alias], today=TODAY)
    crm = con.execute(
        "SELECT identifier, alias_name, alias_label, first_name, external_id FROM braze_customer_attributes "
        "WHERE destination = 'crm'"
    ).fetchall()
    assert crm == [
        ("gold:ann@example.com", "ann@example.com", "gold", "Ann", None),
        ("platinum-plus:bad@", "bad@", "platinum-plus", "Bob", None),
    ]
    assert report.rows == {"braze": 4, "crm": 2} and report.without_identifier["crm"] == 5


def test_rebuild_replaces_tables_and_reuses_checked_values(tmp_path):
    con = warehouse(tmp_path / "w.duckdb")
    first = build_braze_customer_attributes(con, [braze_destination()], today=TODAY)
    second = build_braze_customer_attributes(con, [braze_destination()], today=TODAY)
    assert con.execute("SELECT count(*) FROM braze_customer_attributes").fetchone()[0] == 4
    assert (
        con.execute(
            "SELECT count(*) FROM braze_attribute_rejections WHERE customer_id = 'c2'"
        ).fetchone()[0]
        == 6
    )
    assert first.parsed_values > 0 and second.parsed_values == 0
    assert second.rejections == first.rejections
    # A new value is parsed; values no longer in use leave the cache.
    con.execute("UPDATE customer_360 SET email = 'new@example.org' WHERE customer_id = 'c1'")
    third = build_braze_customer_attributes(con, [braze_destination()], today=TODAY)
    assert third.parsed_values == 1
    cached = {
        r[0]
        for r in con.execute(
            "SELECT value FROM braze_attribute_value_checks WHERE kind = 'email'"
        ).fetchall()
    }
    assert "new@example.org" in cached and "ann@example.com" not in cached


def test_cached_outcomes_are_not_trusted_after_rules_change(tmp_path, monkeypatch):
    con = warehouse(tmp_path / "w.duckdb")
    build_braze_customer_attributes(con, [braze_destination()], today=TODAY)
    con.execute("UPDATE braze_attribute_value_checks SET normalised = 'X' WHERE kind = 'gender'")
    from braze_assets.attributes import value_checks

    monkeypatch.setattr(value_checks, "fingerprint", lambda: "rules-changed")
    report = build_braze_customer_attributes(con, [braze_destination()], today=TODAY)
    assert report.parsed_values > 0
    assert (
        con.execute(
            "SELECT gender FROM braze_customer_attributes WHERE identifier = 'e1'"
        ).fetchone()[0]
        == "F"
    )


def test_expression_that_does_not_bind_names_the_attribute(tmp_path):
    con = warehouse(tmp_path / "w.duckdb")
    dest = destination_with({"name": "oops", "sql": "no_such_column + 1", "type": "integer"})
    con.execute("SET TimeZone = 'America/New_York'")
    with pytest.raises(AttributeBuildError, match="destination 'braze', attribute 'oops'"):
        build_braze_customer_attributes(con, [dest], today=TODAY)
    # The caller's session time zone is restored even when the build fails.
    assert con.execute("SELECT current_setting('TimeZone')").fetchone()[0] == "America/New_York"


def test_expression_failing_on_a_row_names_the_attribute(tmp_path):
    con = warehouse(tmp_path / "w.duckdb")
    dest = destination_with(
        {"name": "first_name", "column": "given_name", "type": "string"},
        {"name": "tier_number", "sql": "CAST(loyalty_tier AS INTEGER)", "type": "integer"},
    )
    with pytest.raises(
        AttributeBuildError, match="attribute 'tier_number'.*fails on some rows.*TRY_CAST"
    ):
        build_braze_customer_attributes(con, [dest], today=TODAY)
