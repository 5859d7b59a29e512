"""Spark and DuckDB, on the same inputs, build the same tables: each ported stage is materialised
through Dagster on both engines and its table compared row for row, every column.

Identity clustering still runs on DuckDB and names customers by fresh UUIDs per run, so the stages
after it get DuckDB mode's unified_coalesced on both engines (the same inputs, the same ids)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import dagster as dg
import duckdb
import pyarrow as pa
import pytest

from braze_assets import settings, tables
from braze_assets.defs import project
from braze_assets.defs.resources import WAREHOUSE_KEY, WarehouseResource
from braze_assets.engine.config import ENV_ENGINE, SparkConfig
from braze_assets.identity.standardise import TABLE as STANDARDISED

PEOPLE = 300
# transaction_attributes counts orders in windows ending now: both runs see the same moment.
NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)
PORTED = (tables.CUSTOMER_360, tables.TRANSACTION_ATTRIBUTES, tables.BRAZE_CUSTOMER_ATTRIBUTES)
# Tables a ported stage writes beside its asset's own.
ALSO_WRITTEN = ("braze_attribute_rejections",)


class _FrozenClock(datetime):
    @classmethod
    def now(cls, tz=None):
        return NOW.astimezone(tz) if tz else NOW.replace(tzinfo=None)


def _rows(table: pa.Table) -> list[tuple]:
    """Rows in a stable order, values as Python objects (lists stay lists)."""
    columns = table.column_names
    rows = [tuple(r[c] for c in columns) for r in table.to_pylist()]
    return sorted(rows, key=repr)


def _materialize(engine: str, data_dir: Path, spark: SparkConfig | None, monkeypatch, selection):
    monkeypatch.setenv(ENV_ENGINE, engine)
    monkeypatch.setenv(settings.ENV_DATA_DIR, str(data_dir))
    project.project_config.cache_clear()
    from braze_assets.defs.attributes.definitions import build_defs as attributes_defs
    from braze_assets.defs.customer_360.definitions import build_defs as customer_360_defs
    from braze_assets.defs.identity.assets import build_identity_assets
    from braze_assets.defs.sources.assets import build_source_assets

    monkeypatch.setattr("braze_assets.defs.customer_360.transactions.datetime", _FrozenClock)
    config = project.project_config()
    assets = (
        build_source_assets(config)
        + build_identity_assets(config, config.identity)
        + list(customer_360_defs().assets)
        + list(attributes_defs().assets)
    )
    warehouse = data_dir / f"warehouse_{engine}.duckdb"
    resources = {WAREHOUSE_KEY: WarehouseResource(database=str(warehouse))}
    if spark is not None:
        from braze_assets.defs.spark import spark_resource

        resources["spark"] = spark_resource(spark)
    result = dg.materialize(
        assets, resources=resources, selection=selection, instance=dg.DagsterInstance.ephemeral()
    )
    assert result.success
    return warehouse


@pytest.fixture(scope="module")
def demo_inputs(tmp_path_factory) -> Path:
    from braze_assets.demo_data import generate_demo_data

    data_dir = tmp_path_factory.mktemp("parity") / "data"
    generate_demo_data(data_dir, people=PEOPLE, as_of=date(2026, 6, 1))
    return data_dir


@pytest.fixture(scope="module")
def both_engines(demo_inputs, spark_session, spark_settings):
    """Every ported stage, once per engine, on the same demo files: on DuckDB the whole chain; on
    Spark the sources, standardisation and the stages after identity, these from DuckDB mode's
    unified_coalesced."""
    from braze_assets.engine.spark_engine import SparkEngine

    standardised = dg.AssetSelection.groups("sources") | dg.AssetSelection.assets(STANDARDISED)
    after_identity = dg.AssetSelection.assets(*PORTED)
    with pytest.MonkeyPatch.context() as monkeypatch:
        warehouse = _materialize(
            "duckdb",
            demo_inputs,
            None,
            monkeypatch,
            standardised | dg.AssetSelection.groups("identity") | after_identity,
        )
        with duckdb.connect(str(warehouse), read_only=True) as con:
            coalesced = con.execute(f"SELECT * FROM {tables.UNIFIED_COALESCED}").to_arrow_table()
        # In place of clustering (still on DuckDB), which the Spark run does not select.
        SparkEngine(spark_session, spark_settings.location()).write_arrow(
            tables.UNIFIED_COALESCED, coalesced
        )
        spark_warehouse = _materialize(
            "spark", demo_inputs, spark_settings, monkeypatch, standardised | after_identity
        )
        project.project_config.cache_clear()
    con = duckdb.connect(str(warehouse), read_only=True)
    yield con, spark_session, spark_settings.location(), spark_warehouse
    con.close()


def _spark_table(session, location: str, table: str) -> pa.Table:
    return session.read.parquet(f"{location}/{table}").toArrow()


@pytest.mark.integration
def _assert_same_rows(on_duckdb: pa.Table, on_spark: pa.Table) -> None:
    assert on_spark.column_names == on_duckdb.column_names
    duck_rows, spark_rows = _rows(on_duckdb), _rows(on_spark)
    different = [(d, s) for d, s in zip(duck_rows, spark_rows) if d != s]
    assert not different, different[:3]
    assert len(duck_rows) == len(spark_rows)


def test_standardised_records_are_identical(both_engines):
    con, session, location, _ = both_engines
    on_duckdb = con.execute(f"SELECT * FROM {STANDARDISED}").to_arrow_table()
    assert on_duckdb.num_rows > PEOPLE
    _assert_same_rows(on_duckdb, _spark_table(session, location, STANDARDISED))


@pytest.mark.integration
@pytest.mark.parametrize("table", PORTED + ALSO_WRITTEN)
def test_stages_after_identity_are_identical(both_engines, table):
    """customer_360 (survivorship, address groups, carried columns), transaction_attributes
    (parsing, windows, RFM, money rounding) and braze_customer_attributes with its rejections
    (casts, identifiers, value checks, held-back duplicates), every row and column; Spark mode's
    warehouse file holds the same table for the stages still on DuckDB."""
    con, session, location, spark_warehouse = both_engines
    on_duckdb = con.execute(f"SELECT * FROM {table}").to_arrow_table()
    # The demo's values are all sendable: rejections are compared on bad values below.
    assert on_duckdb.num_rows > PEOPLE // 2 or table in ALSO_WRITTEN
    _assert_same_rows(on_duckdb, _spark_table(session, location, table))
    with duckdb.connect(str(spark_warehouse), read_only=True) as copy:
        _assert_same_rows(on_duckdb, copy.execute(f"SELECT * FROM {table}").to_arrow_table())


@pytest.mark.integration
def test_raw_tables_are_published_to_the_table_location(both_engines):
    con, session, location, _ = both_engines
    for source in project.project_config().sources:
        table = f"raw_{source.name}"
        assert (
            _spark_table(session, location, table).num_rows
            == con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
        )


@pytest.mark.integration
def test_attribute_rejections_and_report_are_identical(spark_session, tmp_path):
    """The attributes builder on the hand-made warehouse of the attribute tests (unreadable,
    out-of-range, too long, future and invalid values; a shared identifier; an email identifier
    that cannot be normalised), on both engines: the same rows, rejections and report."""
    from braze_assets.attributes import DestinationConfig, build_braze_customer_attributes
    from braze_assets.engine.duckdb_engine import DuckDBEngine
    from braze_assets.engine.spark_engine import SparkEngine
    from braze_assets_tests.attributes.test_builder import TODAY, braze_destination, warehouse

    by_email = DestinationConfig.model_validate(
        {
            "name": "crm",
            "identifier": "email",
            "identifier_column": "email",
            "attributes": [
                {"name": "first_name", "column": "given_name", "type": "varchar(20)"},
                {"name": "phone", "column": "phone", "type": "string"},
            ],
        }
    )
    destinations = [braze_destination(), by_email]
    con = warehouse(tmp_path / "w.duckdb")
    # Tables are session views; the session is shared, so forget the other tests' tables (the
    # demo's value-check cache would otherwise be found here).
    for table in spark_session.catalog.listTables():
        if table.isTemporary:
            spark_session.catalog.dropTempView(table.name)
    spark = SparkEngine(spark_session, str(tmp_path / "tables"))
    for table in ("customer_360", "transaction_attributes"):
        spark.write_arrow(table, con.execute(f"SELECT * FROM {table}").to_arrow_table())
    reports = [
        build_braze_customer_attributes(engine, destinations, today=TODAY)
        for engine in (DuckDBEngine(con), spark)
    ]
    assert reports[0].rejections and reports[0].duplicate_identifiers["braze"]
    assert reports[1] == reports[0]
    for table in (tables.BRAZE_CUSTOMER_ATTRIBUTES, "braze_attribute_rejections"):
        _assert_same_rows(
            con.execute(f"SELECT * FROM {table}").to_arrow_table(),
            spark.read_arrow(f"SELECT * FROM {table}"),
        )
