"""Spark and DuckDB, on the same upstream tables, build the same audience members, attribute
snapshots and sync changes: the stages after the attributes, each written once against the Engine.

The upstream tables are DuckDB's (a hand-checkable customer_attribute_source and the
braze_customer_attributes built from it, as test_parity.py feeds the later stages DuckDB's
unified_coalesced), copied to Spark: no Splink, so it stays in the default run. Both engines run
the same steps: campaigns over an earlier run's members (segments, an exclusion, a control group,
joins, a leave, a stay, a retired campaign, campaign attributes, sub-audiences with array
membership, an SQL-audience orchestration), the day's snapshot, and the diff against a confirmed state that differs from
it in known ways (with one rejected value). Every row and column is compared, except the run's wall-clock times;
key ids and value hashes included (the same MD5-based numbers on both engines, so switching
engines resends nothing). test_parity.py runs the same assets through Dagster on the demo's data,
up to what a sandbox of each engine received.
"""

from __future__ import annotations

import datetime as dt
import time
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path

import dagster as dg
import duckdb
import pyarrow as pa
import pytest

from braze_assets import tables
from braze_assets.attributes import DestinationConfig
from braze_assets.audiences import build_campaign_members, plan_activation, write_activation
from braze_assets.audiences.campaigns import _TABLES as MEMBER_TABLES
from braze_assets.sync.diff import CHANGES, compute_changes
from braze_assets.sync.snapshots import build_snapshot
from braze_assets.sync.tables import (
    _ADDED,
    _TABLES,
    CONFIRMED,
    KEY_ID_SQL,
    REJECTIONS,
    SNAPSHOTS,
    VALUE_HASH_SQL,
)
from braze_assets_tests.audiences.conftest import AS_OF, create_source, load
from braze_assets_tests.audiences.test_campaigns import SEGMENTS

pytestmark = [pytest.mark.integration]

DAY = dt.date(2026, 11, 1)
DESTINATION = DestinationConfig.model_validate(
    {
        "name": "braze",
        "identifier": "external_id",
        "identifier_column": "external_id",
        "attributes": [
            {"name": "loyalty_tier", "column": "loyalty_tier", "type": "string", "nulls": "clear"},
            {"name": "lifetime_value", "column": "lifetime_value", "type": "decimal(10,2)"},
            {"name": "churn_score", "column": "churn_score", "type": "float"},
            {"name": "signup_date", "column": "signup_date", "type": "date"},
            {"name": "latest_order_at", "column": "latest_order_at", "type": "datetime"},
        ],
    }
)
AUDIENCES = load(
    {
        "segments": SEGMENTS,
        "sql_audiences": [
            {
                "name": "whales",
                # QUALIFY and ILIKE: DuckDB syntax sqlglot writes as Spark SQL.
                "sql": "SELECT customer_id, l12m_revenue AS revenue_12m FROM customer_attribute_source "
                "WHERE l12m_revenue > 500 AND email ILIKE '%@EXAMPLE.COM' "
                "QUALIFY row_number() OVER (PARTITION BY customer_id ORDER BY l12m_revenue) = 1",
            }
        ],
        "campaigns": [
            {
                "name": "camp",
                "destination": "braze",
                "segments": ["big_spenders", "bostonians"],
                "exclude": ["one_time_buyers"],
                "control_group_percent": 65,
                "attributes": {
                    "tier": "loyalty_tier",
                    "revenue_12m": "l12m_revenue",
                    "last_order": "latest_order_at",
                },
            },
            {
                "name": "multi",
                "destination": "braze",
                "segments": ["anyone"],
                "sub_audiences": [
                    {"name": "vip", "segment": "big_spenders"},
                    {"name": "one_timer", "segment": "one_time_buyers"},
                ],
                "membership": {"mode": "array", "attribute": "campaigns"},
            },
        ],
        "orchestrations": [
            {"name": "whales_daily", "sql_audience": "whales", "destination": "braze"}
        ],
    }
)
ACTIVATIONS = ("camp", "multi", "whales_daily")
ATTRIBUTES_SQL = f"""CREATE OR REPLACE TABLE {tables.BRAZE_CUSTOMER_ATTRIBUTES} AS
    SELECT 'braze' AS destination, customer_id, external_id AS identifier, external_id, loyalty_tier,
           CAST(l12m_revenue AS DECIMAL(10,2)) AS lifetime_value,
           CAST(order_count AS DOUBLE) / 7 AS churn_score, signup_date, latest_order_at
    FROM customer_attribute_source"""
# The members of an earlier run: c2 stays in camp, c8 leaves it (a one-time buyer now), and the
# campaign `gone`, no longer configured, is retired.
EARLIER = """SELECT campaign, campaign, 'braze', customer_id, 'treatment', 'boolean', 'in_' || campaign,
    CAST(NULL AS VARCHAR), 'r0', CAST('2026-10-31 06:00:00' AS TIMESTAMP)
    FROM (VALUES ('camp', 'c2'), ('camp', 'c8'), ('gone', 'c4')) AS t(campaign, customer_id)"""
MEMBER_COLUMNS = MEMBER_TABLES[tables.AUDIENCE_MEMBERS]
EARLIER_HISTORY = """SELECT 'camp' AS campaign, 'all' AS audience, 'c0' AS customer_id,
    'treatment' AS member_group, 'r-old' AS run_id, TIMESTAMP '2026-10-01 00:00:00' AS computed_at"""
UPSTREAM = ("customer_attribute_source", tables.BRAZE_CUSTOMER_ATTRIBUTES)
WRITTEN = (
    tables.AUDIENCE_MEMBERS,
    tables.CAMPAIGN_RECIPIENTS,
    tables.CAMPAIGN_MEMBER_ATTRIBUTES,
    SNAPSHOTS,
)
# Wall-clock times of the run.
NOT_COMPARED = {"computed_at"}
# What Braze confirmed: the day's snapshot, except E1's tier (a change), E4's revenue (a change,
# rejected below: held back), E6's score (within the tolerance: not sent), E2's revenue (an add),
# E8's array memberships (joins); and E8's tier (a clear) and E5 in camp (a leave) on top.
CONFIRM = f"""SELECT destination, identifier, attribute, element, {KEY_ID_SQL}, kind, billable,
        value_json, {VALUE_HASH_SQL}, CAST('2026-10-31 06:00:00' AS TIMESTAMP), 'r0'
    FROM (
        SELECT destination, identifier, attribute, element, kind, billable,
               CASE WHEN identifier = 'E1' AND attribute = 'loyalty_tier' THEN '"silver"'
                    WHEN identifier = 'E4' AND attribute = 'lifetime_value' THEN '1.00'
                    WHEN identifier = 'E6' AND attribute = 'churn_score' THEN value_json || '1'
                    ELSE value_json END AS value_json
        FROM {SNAPSHOTS}
        WHERE NOT (identifier = 'E2' AND attribute = 'lifetime_value')
          AND NOT (identifier = 'E8' AND attribute = 'campaigns')
        UNION ALL
        SELECT 'braze', identifier, attribute, '', kind, true, value_json
        FROM (VALUES ('E8', 'loyalty_tier', 'value', '"gold"'),
                     ('E5', 'in_camp', 'membership_bool', 'true')) AS t(identifier, attribute, kind, value_json)
    ) c"""
REJECT = f"""SELECT destination, identifier, attribute, element, key_id, 'change', value_json,
    value_hash, 'value rejected', 'r0', CAST('2026-10-31 06:00:00' AS TIMESTAMP),
    CAST(NULL AS TIMESTAMP)
    FROM {SNAPSHOTS} WHERE identifier = 'E4' AND attribute = 'lifetime_value'"""


KEY_COUNTS = f"""SELECT count(DISTINCT identifier || '|' || attribute || '|' || element),
    count(DISTINCT key_id), count(DISTINCT value_json), count(DISTINCT value_hash),
    min(value_hash) >= 0
    FROM {SNAPSHOTS}"""


@contextmanager
def _engine(path: Path, spark):
    """The engine the day's snapshot and diff run on: Spark's, or a writable DuckDB connection."""
    if spark is not None:
        yield spark
        return
    from braze_assets.engine.duckdb_engine import DuckDBEngine

    with duckdb.connect(str(path)) as con:
        yield DuckDBEngine(con)


def _run(path: Path, spark=None) -> dict:
    """The stages on one engine; the upstream tables live in the DuckDB file at `path` (copied
    to Spark in Spark's run)."""

    def activate(name: str, run_id: str):
        if spark is None:  # as the asset runs it: planned read-only, written read-write
            return build_campaign_members(path, name, AUDIENCES, AS_OF, run_id)
        return write_activation(
            spark, plan_activation(spark, name, AUDIENCES, AS_OF), AUDIENCES, run_id
        )

    result: dict = {}
    if spark is not None:
        with duckdb.connect(str(path), read_only=True) as con:
            for table in UPSTREAM:
                spark.write_arrow(table, con.execute(f"SELECT * FROM {table}").to_arrow_table())
    with _engine(path, spark) as engine:
        engine.create_table(tables.AUDIENCE_MEMBERS, MEMBER_COLUMNS)
        engine.replace_rows(tables.AUDIENCE_MEMBERS, "true", EARLIER)
    started = time.perf_counter()
    result["reports"] = [activate(name, "r1") for name in ACTIVATIONS]
    result["audiences_s"] = time.perf_counter() - started
    with _engine(path, spark) as engine:
        started = time.perf_counter()
        result["snapshot"] = build_snapshot(engine, [DESTINATION], DAY)
        result["snapshot_s"] = time.perf_counter() - started
        for name in (CONFIRMED, REJECTIONS):
            # An added column is nullable (sync/tables.py).
            columns = [_TABLES[name], *([f"{_ADDED[name]} NULL"] if name in _ADDED else [])]
            engine.create_table(name, ", ".join(columns))
        engine.replace_rows(CONFIRMED, "true", CONFIRM)
        engine.replace_rows(REJECTIONS, "true", REJECT)
        started = time.perf_counter()
        result["counts"] = compute_changes(
            engine, "braze", DAY, clear_attributes=["loyalty_tier"], float_tolerance=0.01
        )
        result[CHANGES] = engine.read_arrow(f"SELECT * FROM {CHANGES}")
        result["diff_s"] = time.perf_counter() - started
        result.update({t: engine.read_arrow(f"SELECT * FROM {t}") for t in WRITTEN})
        result["keys"] = engine.fetch(KEY_COUNTS)[0]
    return result


@pytest.fixture(scope="module")
def both_engines(tmp_path_factory, spark_session) -> dict:
    from braze_assets.engine.spark_engine import SparkEngine

    root = tmp_path_factory.mktemp("parity_later")
    paths = {"duckdb": root / "duckdb.duckdb", "spark": root / "spark_upstream.duckdb"}
    for path in paths.values():
        with duckdb.connect(str(path)) as con:
            create_source(con)
            con.execute(ATTRIBUTES_SQL)
    spark = SparkEngine(spark_session, str(root / "spark_tables"))
    return {
        "duckdb": _run(paths["duckdb"]),
        "spark": _run(paths["spark"], spark),
        "engine": spark,
    }


def _rows(table: pa.Table) -> list[tuple]:
    """Rows as tuples, whole numbers as int: key ids and hashes are decimals on Spark (and key
    ids on DuckDB too, UHUGEINT reaching Arrow as decimal128)."""

    def value(v):
        return int(v) if isinstance(v, Decimal) else v

    columns = [c for c in table.column_names if c not in NOT_COMPARED]
    return sorted((tuple(value(r[c]) for c in columns) for r in table.to_pylist()), key=repr)


@pytest.mark.parametrize("table", WRITTEN)
def test_members_history_attributes_and_snapshots_are_identical(both_engines, table):
    on_duckdb, on_spark = both_engines["duckdb"][table], both_engines["spark"][table]
    assert on_spark.column_names == on_duckdb.column_names
    assert on_duckdb.num_rows > 5
    assert _rows(on_spark) == _rows(on_duckdb)


def test_reports_are_identical(both_engines):
    def comparable(report):
        return {k: v for k, v in report.as_dict().items() if k != "computed_at"}

    duck, spark = both_engines["duckdb"], both_engines["spark"]
    assert [comparable(r) for r in spark["reports"]] == [comparable(r) for r in duck["reports"]]
    assert spark["snapshot"] == duck["snapshot"]
    # The scenario does what it says: a control group, exclusions, joins, a leave, a stay, a
    # retired campaign and an unassigned member.
    camp, multi, _ = duck["reports"]
    assert camp.control and camp.excluded and multi.unassigned
    assert camp.joins and camp.leaves and camp.stays and camp.retired_campaigns == ["gone"]
    print(
        "audiences: DuckDB {:.1f} s, Spark {:.1f} s; snapshot: DuckDB {:.1f} s, Spark {:.1f} s".format(
            duck["audiences_s"], spark["audiences_s"], duck["snapshot_s"], spark["snapshot_s"]
        )
    )


def test_only_the_changes_come_back_and_they_are_identical(both_engines):
    duck, spark = both_engines["duckdb"], both_engines["spark"]
    assert spark["counts"] == duck["counts"]
    counts = duck["counts"]
    # E1's tier changed and E8's cleared, E2's revenue added, E8's memberships joined, E5 left
    # camp; E4's rejected revenue held back and E6's score within the tolerance, not sent.
    assert (counts.changes, counts.removes, counts.adds) == (1, 1, 1)
    assert counts.joins and counts.leaves == 1 and counts.held_back == 1
    changes = duck[CHANGES]
    assert changes.num_rows == counts.values < duck[SNAPSHOTS].num_rows // 4
    assert _rows(spark[CHANGES]) == _rows(changes)
    sent = {(r["identifier"], r["attribute"]) for r in changes.to_pylist()}
    assert ("E6", "churn_score") not in sent and ("E4", "lifetime_value") not in sent
    print(f"diff: DuckDB {duck['diff_s']:.2f} s, Spark {spark['diff_s']:.2f} s")


@pytest.mark.parametrize("engine", ["duckdb", "spark"])
def test_key_ids_and_hashes_are_consistent(both_engines, engine):
    """One key id per key and one hash per value text, unsigned, on each engine (and the same
    numbers on both: the snapshots compare equal with their key ids and hashes)."""
    keys, ids, texts, hashes, unsigned = both_engines[engine]["keys"]
    assert keys == ids > 10 and texts == hashes > 10 and unsigned
    assert both_engines["spark"]["keys"] == both_engines["duckdb"]["keys"]


def test_an_audience_that_does_not_transpile_fails_on_spark_naming_it(both_engines):
    """In Spark mode the audience is refused before anything runs (DuckDB mode runs it)."""
    from braze_assets.audiences import AudienceError
    from braze_assets.audiences.evaluate import materialise_audience

    audiences = load(
        {
            "sql_audiences": [
                {
                    "name": "hashed",
                    "sql": "SELECT customer_id, md5_number(email) AS h FROM customer_360",
                }
            ]
        }
    )
    with pytest.raises(
        AudienceError, match=r"audience 'hashed': cannot run on Spark: function md5_number\(\)"
    ):
        materialise_audience(both_engines["engine"], "hashed", "_hashed", audiences, AS_OF)


def test_the_campaign_asset_runs_on_spark_in_spark_mode(
    both_engines, spark_session, spark_settings, tmp_path, monkeypatch
):
    """Through Dagster in Spark mode, the campaign asset rebuilds the view in its session from
    customer_360 at the table location, plans and writes on Spark, and copies its tables into the
    warehouse file: the members DuckDB mode's run gave."""
    from braze_assets.defs import project
    from braze_assets.defs.audiences.assets import build_audience_assets
    from braze_assets.defs.resources import WAREHOUSE_KEY, WarehouseResource
    from braze_assets.defs.spark import spark_resource
    from braze_assets.engine.config import ENV_ENGINE
    from braze_assets.engine.spark_engine import SparkEngine

    monkeypatch.setenv(ENV_ENGINE, "spark")
    project.project_config.cache_clear()
    # Tables are session views and the session is shared: forget the fixture's (another location).
    for table in spark_session.catalog.listTables():
        if table.isTemporary:
            spark_session.catalog.dropTempView(table.name)
    warehouse = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(warehouse)) as con:
        create_source(con)
        # History from before Spark mode, which the table location does not hold: kept.
        con.execute(f"CREATE TABLE {tables.CAMPAIGN_RECIPIENTS} AS {EARLIER_HISTORY}")
        # customer_360 holds every column the segments read; the view adds the others as NULL.
        source = con.execute("SELECT * FROM customer_attribute_source").to_arrow_table()
    SparkEngine(spark_session, spark_settings.location()).write_arrow("customer_360", source)
    asset = build_audience_assets(AUDIENCES)
    assert all("spark" in spec.kinds for spec in asset.specs)
    result = dg.materialize(
        [asset],
        partition_key="camp",
        resources={
            WAREHOUSE_KEY: WarehouseResource(database=str(warehouse)),
            "spark": spark_resource(spark_settings),
        },
        instance=dg.DagsterInstance.ephemeral(),
    )
    project.project_config.cache_clear()
    assert result.success

    def members(table: pa.Table) -> list[tuple]:
        return _rows(table.drop_columns(["run_id"]))

    on_duckdb = both_engines["duckdb"]["reports"][0]
    stored = SparkEngine(spark_session, spark_settings.location()).read_arrow(
        f"SELECT * FROM {tables.AUDIENCE_MEMBERS}"
    )
    assert stored.num_rows == on_duckdb.size > 0
    with duckdb.connect(str(warehouse), read_only=True) as con:
        copied = con.execute(f"SELECT * FROM {tables.AUDIENCE_MEMBERS}").to_arrow_table()
    assert members(copied) == members(stored)
    assert {r["customer_id"] for r in stored.to_pylist()} == {"c1", "c2", "c6"}
    # The run's history rows, appended at the table location, are what the warehouse gained.
    history = SparkEngine(spark_session, spark_settings.location()).read_arrow(
        f"SELECT * FROM {tables.CAMPAIGN_RECIPIENTS}"
    )
    with duckdb.connect(str(warehouse), read_only=True) as con:
        copied = con.execute(f"SELECT * FROM {tables.CAMPAIGN_RECIPIENTS}").to_arrow_table()
    earlier = ("camp", "all", "c0", "treatment", "r-old")  # computed_at is not compared
    assert _rows(copied) == sorted([*_rows(history), earlier], key=repr)
    assert history.num_rows == on_duckdb.size
