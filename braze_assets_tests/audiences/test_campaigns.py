"""Campaign runs against a real DuckDB file: exclusions, control group, sub-audiences, joins/leaves, history."""

from __future__ import annotations

import hashlib

import duckdb
import pytest

from braze_assets.attributes import DestinationConfig
from braze_assets.audiences import build_campaign_members, open_read_only, preview_campaign

from .conftest import AS_OF, COLUMNS, create_source, load

SEGMENTS = [
    {
        "name": "big_spenders",
        "where": {"column": "l12m_revenue", "op": ">=", "value": 600},
    },  # c1 c4 c6
    {"name": "bostonians", "where": {"column": "city", "op": "=", "value": "Boston"}},  # c1 c2 c8
    {
        "name": "one_time_buyers",
        "where": {"column": "one_and_done", "op": "=", "value": True},
    },  # c4 c5 c8
    {"name": "anyone", "where": {"column": "order_count", "op": ">=", "value": 0}},
]


def in_control_group(campaign: str, customer_id: str, percent: float) -> bool:
    """The documented rule, computed independently: first 64 bits of md5(campaign, 0x1f, customer) scaled to [0, 100)."""
    digest = hashlib.md5(f"{campaign}\x1f{customer_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 * 100 < percent


def config(**campaign):
    return load(
        {"segments": SEGMENTS, "campaigns": [{"name": "camp", "destination": "braze", **campaign}]}
    )


def build(warehouse, audiences, run_id, name="camp"):
    return build_campaign_members(warehouse, name, audiences, AS_OF, run_id, COLUMNS)


def rows(warehouse, sql, params=()):
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute(sql, list(params)).fetchall()


def members(warehouse) -> list[str]:
    return [r[0] for r in rows(warehouse, "SELECT customer_id FROM audience_members ORDER BY 1")]


def test_segments_are_unioned_and_exclusions_dropped(warehouse):
    audiences = config(segments=["big_spenders", "bostonians"], exclude=["one_time_buyers"])
    report = build(warehouse, audiences, "r1")
    # targeted {c1 c2 c4 c6 c8}; one-time buyers c4 and c8 are dropped
    assert (report.targeted, report.excluded, report.size) == (5, 2, 3)
    assert members(warehouse) == ["c1", "c2", "c6"]
    member = rows(
        warehouse,
        "SELECT campaign, audience, destination, member_group, membership_mode, membership_attribute, "
        "membership_value, run_id FROM audience_members WHERE customer_id = 'c1'",
    )
    assert member == [("camp", "camp", "braze", "treatment", "boolean", "in_camp", None, "r1")]
    assert (report.joins, report.leaves, report.stays) == (3, 0, 0)


def test_leavers_disappear_and_are_counted(warehouse):
    audiences = config(segments=["bostonians"])
    build(warehouse, audiences, "r1")
    with duckdb.connect(str(warehouse)) as con:
        con.execute("UPDATE customer_attribute_source SET city = 'Denver' WHERE customer_id = 'c2'")
        con.execute("UPDATE customer_attribute_source SET city = 'Boston' WHERE customer_id = 'c5'")
    report = build(warehouse, audiences, "r2")
    assert (report.joins, report.leaves, report.stays) == (1, 1, 2)
    assert members(warehouse) == ["c1", "c5", "c8"]
    assert rows(warehouse, "SELECT DISTINCT run_id FROM audience_members") == [("r2",)]
    history = rows(warehouse, "SELECT run_id, customer_id FROM campaign_recipients ORDER BY 1, 2")
    assert history == [
        ("r1", "c1"),
        ("r1", "c2"),
        ("r1", "c8"),
        ("r2", "c1"),
        ("r2", "c5"),
        ("r2", "c8"),
    ]
    build(warehouse, audiences, "r2")  # a retried run replaces its own history rows
    assert rows(warehouse, "SELECT count(*) FROM campaign_recipients") == [(6,)]


def test_an_empty_audience_leaves_everyone(warehouse):
    audiences = config(segments=["bostonians"])
    build(warehouse, audiences, "r1")
    with duckdb.connect(str(warehouse)) as con:
        con.execute("UPDATE customer_attribute_source SET city = 'Paris'")
    report = build(warehouse, audiences, "r2")
    assert (report.size, report.joins, report.leaves, report.stays) == (0, 0, 3, 0)
    assert rows(warehouse, "SELECT count(*) FROM audience_members") == [(0,)]


def _grow(warehouse, start: int, count: int) -> None:
    with duckdb.connect(str(warehouse)) as con:
        con.execute(
            "INSERT INTO customer_attribute_source SELECT printf('cust-%05d', i), NULL, 'gold', 100, NULL, 'Boston', NULL, "
            "DATE '2024-01-01', TIMESTAMP '2024-01-01', false, NULL, 1 FROM range(?, ?) AS t(i)",
            [start, start + count],
        )


def test_control_group_is_stable_as_the_audience_grows(tmp_path):
    warehouse = tmp_path / "w.duckdb"
    with duckdb.connect(str(warehouse)) as con:
        create_source(con, [])
    _grow(warehouse, 0, 2000)
    audiences = config(segments=["anyone"], control_group_percent=10)
    first = build(warehouse, audiences, "r1")
    control_1 = {
        r[0]
        for r in rows(
            warehouse, "SELECT customer_id FROM audience_members WHERE member_group = 'control'"
        )
    }
    assert (
        first.control
        == len(control_1)
        == sum(in_control_group("camp", f"cust-{i:05d}", 10) for i in range(2000))
    )
    assert 150 <= first.control <= 250 and first.treatment == 2000 - first.control

    _grow(warehouse, 2000, 1000)
    second = build(warehouse, audiences, "r2")
    control_2 = {
        r[0]
        for r in rows(
            warehouse, "SELECT customer_id FROM audience_members WHERE member_group = 'control'"
        )
    }
    assert control_1 <= control_2 and second.control == len(control_2) > first.control
    assert (
        second.stays == first.treatment
        and second.leaves == 0
        and second.joins == 1000 - (len(control_2) - len(control_1))
    )
    # control customers are recorded in history but never carry campaign attributes
    assert rows(
        warehouse,
        "SELECT count(*) FROM campaign_recipients WHERE run_id = 'r2' AND member_group = 'control'",
    ) == [(len(control_2),)]


def test_control_group_depends_on_the_campaign(tmp_path):
    warehouse = tmp_path / "w.duckdb"
    with duckdb.connect(str(warehouse)) as con:
        create_source(con, [])
    _grow(warehouse, 0, 400)
    audiences = load(
        {
            "segments": SEGMENTS,
            "campaigns": [
                {
                    "name": name,
                    "segments": ["anyone"],
                    "destination": "braze",
                    "control_group_percent": 50,
                }
                for name in ("a", "b")
            ],
        }
    )
    build(warehouse, audiences, "r1", name="a")
    build(warehouse, audiences, "r1", name="b")
    control = {
        name: {
            r[0]
            for r in rows(
                warehouse,
                "SELECT customer_id FROM audience_members WHERE campaign = ? AND member_group = 'control'",
                [name],
            )
        }
        for name in ("a", "b")
    }
    assert control["a"] != control["b"]
    assert control["a"] == {
        f"cust-{i:05d}" for i in range(400) if in_control_group("a", f"cust-{i:05d}", 50)
    }


def test_sub_audiences_take_the_first_match_and_membership_is_per_sub_audience(warehouse):
    audiences = config(
        segments=["bostonians", "big_spenders"],
        sub_audiences=[
            {"name": "vip", "segment": "big_spenders"},
            {"name": "one_timer", "segment": "one_time_buyers"},
        ],
        membership={"mode": "array", "attribute": "campaigns"},
    )
    report = build(warehouse, audiences, "r1")
    # members c1 c2 c4 c6 c8: vip = c1 c4 c6; one_timer = c8; c2 matches neither
    assert report.audience_sizes == {"one_timer": 1, "vip": 3} and report.unassigned == 1
    got = rows(
        warehouse,
        "SELECT customer_id, audience, membership_mode, membership_attribute, membership_value FROM audience_members ORDER BY 1",
    )
    assert got == [
        ("c1", "vip", "array", "campaigns", "camp_vip"),
        ("c4", "vip", "array", "campaigns", "camp_vip"),
        ("c6", "vip", "array", "campaigns", "camp_vip"),
        ("c8", "one_timer", "array", "campaigns", "camp_one_timer"),
    ]


def test_campaign_attributes_are_written_for_treatment_members(warehouse):
    audiences = config(
        segments=["bostonians"],
        attributes={
            "tier": "loyalty_tier",
            "revenue_12m": "l12m_revenue",
            "last_order": "latest_order_at",
        },
    )
    build(warehouse, audiences, "r1")
    got = rows(
        warehouse,
        "SELECT customer_id, attribute, value::VARCHAR FROM campaign_member_attributes WHERE customer_id IN ('c1', 'c8') ORDER BY 1, 2",
    )
    # canonical JSON as the sync compares it: decimals keep their scale; a missing tier is no row at all
    assert got == [
        ("c1", "last_order", '"2024-06-10T09:00:00.000Z"'),
        ("c1", "revenue_12m", "1200.00"),
        ("c1", "tier", '"gold"'),
        ("c8", "last_order", '"2024-01-15T10:00:00.000Z"'),
        ("c8", "revenue_12m", "150.00"),
    ]


def test_orchestration_sends_the_sql_columns(warehouse):
    audiences = load(
        {
            "sql_audiences": [
                {
                    "name": "whales",
                    "sql": "SELECT customer_id, l12m_revenue AS revenue_12m FROM customer_attribute_source WHERE l12m_revenue > 1000",
                }
            ],
            "orchestrations": [
                {
                    "name": "whales_daily",
                    "sql_audience": "whales",
                    "destination": "braze",
                    "cadence": "daily",
                }
            ],
        }
    )
    report = build(warehouse, audiences, "r1", name="whales_daily")
    assert (report.kind, report.size, report.control) == ("orchestration", 2, 0)
    assert rows(
        warehouse,
        "SELECT campaign, audience, customer_id, membership_attribute FROM audience_members ORDER BY 3",
    ) == [
        ("whales_daily", "whales", "c1", "in_whales_daily"),
        ("whales_daily", "whales", "c6", "in_whales_daily"),
    ]
    assert rows(
        warehouse,
        "SELECT customer_id, attribute, value::VARCHAR FROM campaign_member_attributes ORDER BY 1",
    ) == [("c1", "revenue_12m", "1200.00"), ("c6", "revenue_12m", "5000.00")]


def test_campaigns_replace_only_their_own_rows(warehouse):
    audiences = load(
        {
            "segments": SEGMENTS,
            "campaigns": [
                {"name": "one", "segments": ["bostonians"], "destination": "braze"},
                {"name": "two", "segments": ["big_spenders"], "destination": "braze"},
            ],
        }
    )
    build(warehouse, audiences, "r1", name="one")
    build(warehouse, audiences, "r1", name="two")
    build(warehouse, audiences, "r2", name="one")
    assert rows(
        warehouse, "SELECT campaign, count(*) FROM audience_members GROUP BY 1 ORDER BY 1"
    ) == [("one", 3), ("two", 3)]


def test_preview_shows_payloads_and_writes_nothing(warehouse):
    audiences = config(
        segments=["bostonians"],
        control_group_percent=0,
        attributes=["loyalty_tier"],
        test_run_records=2,
    )
    con = open_read_only(warehouse)
    try:
        records = preview_campaign(con, "camp", audiences, AS_OF, columns=COLUMNS)
    finally:
        con.close()
    # no destination given and no braze_customer_attributes yet: the records carry no Braze identifier
    assert records == [
        {
            "customer_id": "c1",
            "audience": "camp",
            "change": "join",
            "identified": False,
            "payload": {"in_camp": True, "loyalty_tier": "gold"},
        },
        {
            "customer_id": "c2",
            "audience": "camp",
            "change": "join",
            "identified": False,
            "payload": {"in_camp": True, "loyalty_tier": "silver"},
        },
    ]
    assert rows(
        warehouse,
        "SELECT count(*) FROM information_schema.tables WHERE table_name = 'audience_members'",
    ) == [(0,)]


def test_preview_shows_leaves_with_braze_identifiers(warehouse):
    audiences = config(segments=["bostonians"], membership={"mode": "array"})
    build(warehouse, audiences, "r1")
    with duckdb.connect(str(warehouse)) as con:
        con.execute("UPDATE customer_attribute_source SET city = 'Denver' WHERE customer_id = 'c2'")
        con.execute(
            "CREATE TABLE braze_customer_attributes AS SELECT 'braze' AS destination, customer_id, "
            "external_id AS identifier, external_id FROM customer_360 WHERE customer_id <> 'c8'"
        )
    destination = DestinationConfig.model_validate(
        {
            "name": "braze",
            "identifier": "external_id",
            "identifier_column": "external_id",
            "update_existing_only": True,
            "attributes": [{"name": "home_city", "column": "city", "type": "string"}],
        }
    )
    con = open_read_only(warehouse)
    try:
        records = preview_campaign(
            con, "camp", audiences, AS_OF, limit=5, columns=COLUMNS, destination=destination
        )
    finally:
        con.close()
    assert [(r["customer_id"], r["change"], r["identified"], r["payload"]) for r in records] == [
        (
            "c1",
            "stay",
            True,
            {"external_id": "E1", "_update_existing_only": True, "audiences": {"add": ["camp"]}},
        ),
        ("c8", "stay", False, {"audiences": {"add": ["camp"]}}),
        (
            "c2",
            "leave",
            True,
            {"external_id": "E2", "_update_existing_only": True, "audiences": {"remove": ["camp"]}},
        ),
    ]


def test_orchestration_columns_must_be_sendable_attributes(warehouse):
    audiences = load(
        {
            "sql_audiences": [
                {"name": "emails", "sql": "SELECT customer_id, email FROM customer_360"}
            ],
            "orchestrations": [{"name": "o", "sql_audience": "emails", "destination": "braze"}],
        }
    )
    with pytest.raises(ValueError, match="audience 'emails'.*'email'.*standard field"):
        build(warehouse, audiences, "r1", name="o")


def test_a_campaign_removed_from_config_loses_its_members(warehouse):
    both = load(
        {
            "segments": SEGMENTS,
            "campaigns": [
                {"name": "kept", "segments": ["bostonians"], "destination": "braze"},
                {
                    "name": "dropped",
                    "segments": ["big_spenders"],
                    "destination": "braze",
                    "attributes": ["loyalty_tier"],
                },
            ],
        }
    )
    build(warehouse, both, "r1", name="kept")
    build(warehouse, both, "r1", name="dropped")
    only_kept = load(
        {
            "segments": SEGMENTS,
            "campaigns": [{"name": "kept", "segments": ["bostonians"], "destination": "braze"}],
        }
    )
    report = build(warehouse, only_kept, "r2", name="kept")
    assert report.retired_campaigns == ["dropped"]
    assert rows(warehouse, "SELECT DISTINCT campaign FROM audience_members") == [("kept",)]
    assert rows(
        warehouse, "SELECT count(*) FROM campaign_member_attributes WHERE campaign = 'dropped'"
    ) == [(0,)]
    assert rows(
        warehouse, "SELECT count(*) FROM campaign_recipients WHERE campaign = 'dropped'"
    ) == [(3,)]  # history stays
