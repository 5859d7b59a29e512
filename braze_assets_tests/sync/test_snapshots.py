"""attribute_snapshots from braze_customer_attributes + audience_members (real DuckDB file)."""

from __future__ import annotations

from braze_assets.sync.snapshots import build_snapshot
from braze_assets_tests.sync.conftest import (
    DAY1,
    DAY2,
    destination_config,
    put_customer_attributes,
    put_members,
)


def rows(con, day):
    return con.execute(
        """SELECT identifier, attribute, element, kind, attr_type, billable, value_json FROM attribute_snapshots
           WHERE snapshot_date = ? ORDER BY ALL""",
        [day],
    ).fetchall()


def test_snapshot_unpivots_canonically_and_adds_memberships(con):
    put_customer_attributes(con, [("u1", "gold", 10.5, 0.25), ("u2", None, None, 1.0)])
    put_members(
        con,
        [
            ("winback", "u1", "treatment", "boolean", "in_winback", None),
            ("winback", "u2", "control", "boolean", "in_winback", None),
            ("spring", "u2", "treatment", "array", "campaigns", "spring"),
            ("spring", "ghost", "treatment", "array", "campaigns", "spring"),
        ],
    )
    report = build_snapshot(con, [destination_config()], DAY1)
    assert rows(con, DAY1) == [
        ("u1", "churn_score", "", "value", "float", True, "0.25"),
        ("u1", "in_winback", "", "membership_bool", "boolean", True, "true"),
        ("u1", "lifetime_value", "", "value", "decimal(10,2)", True, "10.50"),
        ("u1", "loyalty_tier", "", "value", "string", True, '"gold"'),
        ("u2", "campaigns", "spring", "membership_array", "array", True, '"spring"'),
        ("u2", "churn_score", "", "value", "float", True, "1.0"),
    ]
    assert report.rows["braze_us"] == 6 and report.members_without_identifier["braze_us"] == 1


def test_rerun_replaces_the_day_and_prunes(con):
    put_customer_attributes(con, [("u1", "gold", 10.5, 0.25)])
    build_snapshot(con, [destination_config()], DAY1)
    build_snapshot(con, [destination_config()], DAY1)
    assert len(rows(con, DAY1)) == 3
    build_snapshot(con, [destination_config()], DAY2, retention_days=1)
    assert rows(con, DAY1) == [] and len(rows(con, DAY2)) == 3


def test_membership_attribute_clashing_with_mapping_is_named(con):
    put_customer_attributes(con, [("u1", "gold", 10.5, 0.25)])
    put_members(con, [("c", "u1", "treatment", "boolean", "loyalty_tier", None)])
    try:
        build_snapshot(con, [destination_config()], DAY1)
    except ValueError as exc:
        assert "'loyalty_tier'" in str(exc) and "membership" in str(exc)
    else:
        raise AssertionError("expected a clash error")


def test_campaign_attributes_yield_to_mapped_values_and_first_campaign(con):
    put_customer_attributes(con, [("u1", "gold", 10.5, 0.25)])
    con.execute("""CREATE TABLE campaign_member_attributes (campaign VARCHAR, destination VARCHAR,
        customer_id VARCHAR, attribute VARCHAR, value JSON, run_id VARCHAR, computed_at TIMESTAMP)""")
    con.execute("""INSERT INTO campaign_member_attributes VALUES
        ('b_camp', 'braze_us', 'c-u1', 'offer', '"20%"', 'r', now()),
        ('a_camp', 'braze_us', 'c-u1', 'offer', '"10%"', 'r', now()),
        ('a_camp', 'braze_us', 'c-u1', 'loyalty_tier', '"vip"', 'r', now())""")
    report = build_snapshot(con, [destination_config()], DAY1)
    values = {(r[0], r[1]): r[6] for r in rows(con, DAY1)}
    assert values[("u1", "offer")] == '"10%"' and values[("u1", "loyalty_tier")] == '"gold"'
    assert report.conflicts["braze_us"] == 2 and report.rows["braze_us"] == 4


def test_campaign_scoped_attribute_goes_only_to_treatment_members(con):
    destination = destination_config()
    churn = next(m for m in destination.attributes if m.name == "churn_score")
    scoped = destination.model_copy(
        update={
            "attributes": [
                m if m is not churn else churn.model_copy(update={"scope": "campaign_members"})
                for m in destination.attributes
            ]
        }
    )
    put_customer_attributes(
        con, [("u1", "gold", 10.5, 0.25), ("u2", "gold", 1.0, 0.5), ("u3", "gold", 2.0, 0.75)]
    )
    put_members(
        con,
        [
            ("winback", "u1", "treatment", "boolean", "in_winback", None),
            ("winback", "u2", "control", "boolean", "in_winback", None),
        ],
    )
    build_snapshot(con, [scoped], DAY1)
    churn_rows = [r for r in rows(con, DAY1) if r[1] == "churn_score"]
    assert churn_rows == [("u1", "churn_score", "", "value", "float", True, "0.25")]
    # Everyone still gets the attributes of scope `all`.
    assert {r[0] for r in rows(con, DAY1) if r[1] == "loyalty_tier"} == {"u1", "u2", "u3"}
