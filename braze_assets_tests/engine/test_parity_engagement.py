"""Spark and DuckDB, on the same Currents events, build the same engagement_attributes: the stage
written once against the Engine.

The events are loaded as the currents assets load them (Avro files from a moto S3, DuckDB's
reader) into one DuckDB file; DuckDB builds the table there, Spark from the events copied to a
table location (export_tables, as the asset copies them). Every row and every column is compared,
with the column types: currents/test_engagement.py's events (machine opens, a braze-id-only user
linked later, a never-linked one, an event after as_of) and edge cases of the SQL each engine
reads differently if at all (JSON nulls, text case, the window bounds, a user id linked to two
external ids). Then the asset runs through Dagster in Spark mode.
"""

from __future__ import annotations

import shutil
import uuid

import dagster as dg
import duckdb
import pytest

from braze_assets.currents.ingest import EVENTS_TABLE
from braze_assets.currents.local_s3 import LocalS3
from braze_assets.currents.s3 import CurrentsBucket
from braze_assets.engagement.attributes import TABLE, build_engagement_attributes
from braze_assets.engine.duckdb_engine import DuckDBEngine
from braze_assets_tests.currents.conftest import PREFIX
from braze_assets_tests.currents.test_engagement import AS_OF, EVENTS, event, load_events

pytestmark = [pytest.mark.integration]

GSC = "users.behaviors.subscription.GlobalStateChange"
EDGES = [
    # Unsubscribes: a JSON null channel is email, the status is read in any case, SMS is not email.
    event(GSC, 4, "bc3", "c", subscription_status="Unsubscribed", channel=None),
    event(GSC, 6, "bc3", "c", subscription_status="unsubscribed", channel="EMAIL"),
    event(GSC, 7, "bc3", "c", subscription_status="Unsubscribed", channel="sms"),
    # `machine_open` is compared as written: 'TRUE' is not 'true'.
    event("users.messages.email.Open", 0, "bc3", "c", machine_open="TRUE"),  # at as_of: counted
    # The windows' bounds: exactly 30 (90) days before as_of is outside the 30 (90) days.
    event("users.behaviors.Purchase", 30, "bc3", "c", price=2.25),
    event("users.behaviors.Purchase", 89, "bc3", "c", price=0.5),
    event("users.messages.email.Click", 90, "bc3", "c"),
    # One braze id linked to two external ids: the latest link takes its id-less events.
    event("users.behaviors.CustomEvent", 20, "bd", "d1"),
    event("users.behaviors.CustomEvent", 5, "bd", "d2"),
    event("users.behaviors.app.SessionStart", 2, "bd", None),
    # Only after as_of: no row.
    event("users.behaviors.app.SessionStart", -2, "be", "e"),
]


@pytest.fixture(scope="module")
def events_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("engagement") / "events.duckdb"
    with LocalS3() as server:
        client = server.client()
        name = f"currents-{uuid.uuid4().hex[:12]}"
        client.create_bucket(Bucket=name)
        with duckdb.connect(str(path)) as con:
            load_events(CurrentsBucket(client, name, PREFIX), con, [*EVENTS, *EDGES])
    return path


def _drop_session_views(session) -> None:
    # Tables are session views and the session is shared: forget other tests' (other locations).
    for table in session.catalog.listTables():
        if table.isTemporary:
            session.catalog.dropTempView(table.name)


def _built(engine, count: int) -> dict:
    return {
        "count": count,
        "types": engine.column_types(f"SELECT * FROM {TABLE}"),
        "rows": engine.read_arrow(f"SELECT * FROM {TABLE}").to_pylist(),
    }


@pytest.fixture(scope="module")
def both_engines(events_file, tmp_path_factory, spark_session) -> dict:
    from braze_assets.defs.engine import export_tables
    from braze_assets.engine.spark_engine import SparkEngine

    _drop_session_views(spark_session)
    spark = SparkEngine(spark_session, str(tmp_path_factory.mktemp("engagement_spark")))
    with duckdb.connect(str(events_file)) as con:
        duck = DuckDBEngine(con)
        on_duckdb = _built(duck, build_engagement_attributes(duck, AS_OF))
        export_tables(con, spark, [EVENTS_TABLE])
    return {
        "duckdb": on_duckdb,
        "spark": _built(spark, build_engagement_attributes(spark, AS_OF)),
        "engine": spark,
    }


def test_the_same_events_give_the_same_table(both_engines):
    duck, spark = both_engines["duckdb"], both_engines["spark"]
    assert spark["count"] == duck["count"] == 5
    assert list(spark["types"].items()) == list(duck["types"].items())
    assert duck["types"]["last_event_at"] == "TIMESTAMP WITH TIME ZONE"

    def rows(built):  # instants compare as instants (DuckDB reads them in its zone, Spark in UTC)
        return sorted((tuple(r.values()) for r in built["rows"]), key=repr)

    assert rows(spark) == rows(duck)
    # The scenario does what it says.
    by_id = {r["external_user_id"]: r for r in duck["rows"]}
    c = by_id["c"]
    assert c["email_unsubscribes"] == 2 and c["email_opens_30d"] == 1
    assert (c["purchases_30d"], c["purchases_90d"], c["purchase_revenue_90d"]) == (0, 2, 2.75)
    assert c["email_clicks_90d"] == 0 and c["last_email_click_at"] is not None
    assert (by_id["d1"]["sessions_30d"], by_id["d2"]["sessions_30d"]) == (0, 1)
    assert by_id["b"]["sessions_90d"] == 2 and "e" not in by_id
    assert {r["as_of"] for r in spark["rows"]} == {AS_OF}


def test_no_events_gives_an_empty_table_of_the_same_columns(both_engines, tmp_path):
    """Before any Currents day the events table does not exist: each engine creates it empty,
    and Spark's instants stay instants (TIMESTAMPTZ is Spark's TIMESTAMP_LTZ, not its NTZ)."""
    from braze_assets.engine.spark_engine import SparkEngine

    _drop_session_views(both_engines["engine"].session)
    spark = SparkEngine(both_engines["engine"].session, str(tmp_path / "spark"))
    with duckdb.connect(str(tmp_path / "empty.duckdb")) as con:
        duck = _built(DuckDBEngine(con), build_engagement_attributes(con, AS_OF))
    empty = _built(spark, build_engagement_attributes(spark, AS_OF))
    assert empty["count"] == duck["count"] == 0 and empty["rows"] == []
    assert list(empty["types"].items()) == list(duck["types"].items())


def test_the_asset_runs_on_spark_in_spark_mode(
    events_file, both_engines, spark_session, spark_settings, tmp_path, monkeypatch
):
    """Through Dagster in Spark mode the asset copies the events to the table location, builds
    the table on Spark and copies it into the warehouse file, in DuckDB mode's order and types:
    the table DuckDB builds from the same events as of the run's as_of."""
    from braze_assets.defs import project
    from braze_assets.defs.engagement.assets import build_engagement_assets
    from braze_assets.defs.resources import WAREHOUSE_KEY, WarehouseResource
    from braze_assets.defs.spark import spark_resource
    from braze_assets.engine.config import ENV_ENGINE
    from braze_assets.engine.spark_engine import SparkEngine

    monkeypatch.setenv(ENV_ENGINE, "spark")
    project.project_config.cache_clear()
    _drop_session_views(spark_session)
    warehouse = tmp_path / "warehouse.duckdb"
    shutil.copy(events_file, warehouse)
    settings = spark_settings.model_copy(update={"table_location": str(tmp_path / "tables")})
    try:
        assets = build_engagement_assets()
        result = dg.materialize(
            assets,
            resources={
                WAREHOUSE_KEY: WarehouseResource(database=str(warehouse)),
                "spark": spark_resource(settings),
            },
            instance=dg.DagsterInstance.ephemeral(),
        )
    finally:
        project.project_config.cache_clear()
    assert result.success
    [spec] = assets[0].specs
    assert "spark" in spec.kinds and "duckdb" not in spec.kinds
    [materialization] = result.asset_materializations_for_node(TABLE)
    as_of = materialization.metadata["as_of"].value

    stored = _built(SparkEngine(spark_session, settings.location()), 0)["rows"]
    with duckdb.connect(str(warehouse), read_only=True) as con:
        copied = _built(DuckDBEngine(con), 0)
    with duckdb.connect(str(events_file)) as con:
        expected = _built(DuckDBEngine(con), build_engagement_attributes(con, as_of_utc(as_of)))

    def rows(found):
        return [tuple(r.values()) for r in found]

    assert len(copied["rows"]) == materialization.metadata["dagster/row_count"].value > 0
    assert copied["types"] == expected["types"]
    # In order: the warehouse's copy is sorted as DuckDB mode writes it.
    assert rows(copied["rows"]) == rows(expected["rows"])
    assert sorted(rows(stored), key=repr) == sorted(rows(copied["rows"]), key=repr)


def as_of_utc(timestamp: float):
    from datetime import UTC, datetime

    return datetime.fromtimestamp(timestamp, UTC)
