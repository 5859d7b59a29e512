"""Spark and DuckDB, on the same inputs, build the same tables: the demo's sources, identity and
the ported stages after it are materialised through Dagster once per engine, and every table is
compared row for row, every column.

Customer ids are UUIDs named by the run that created them and stamped with its clock, so both runs
get one run id and one frozen clock: the same clustering then names the same customers alike, and
the stages after identity see the same ids on both engines. A rerun of the clustering on changed
scores, with one run id on both engines, then checks the stable-id carry-over: kept, merged, split
and new ids alike."""

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
from braze_assets.identity.cluster import ASSIGNMENTS, REGISTRY, cluster_and_assign_ids
from braze_assets.identity.match import TABLE as SCORES
from braze_assets.identity.match import match_threshold
from braze_assets.identity.standardise import TABLE as STANDARDISED

# One Dagster run per engine; Splink on Spark cuts its work tables with local checkpoints (the
# tests' conf, conftest.py). Still a slow test (`./run test -m slow`): measured in a quiet CI run on
# 2 cores, its fixture took 412 s on a worker of its own, which the 10-minute suite cannot hold.
# EM's iterations no longer cost Spark jobs (benchmarks/README.md, "Where Spark identity's fixed
# cost went"), but the fixture is still some 400 Spark jobs for identity alone. test_parity_later.py, test_spark_engine.py
# and test_components.py keep Spark parity of every ported stage after identity in the default run.
pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(1200),
    pytest.mark.xdist_group("parity_identity"),
]

PEOPLE = 300
# transaction_attributes counts orders in windows ending now: both runs see the same moment.
NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)
PORTED = (tables.CUSTOMER_360, tables.TRANSACTION_ATTRIBUTES, tables.BRAZE_CUSTOMER_ATTRIBUTES)
# Tables a ported stage writes beside its asset's own.
ALSO_WRITTEN = ("braze_attribute_rejections",)
IDENTITY = (STANDARDISED, SCORES, tables.UNIFIED_COALESCED, REGISTRY, ASSIGNMENTS)
# EM sums the same terms in another order on Spark and stops where its convergence test says,
# so the trained m and u differ in the last digits (measured on these inputs: weights by up to
# 2.3e-6, probabilities by up to 4.8e-8).
FLOAT_TOLERANCE = {
    "match_probability": 1e-6,
    "model_probability": 1e-6,
    "match_weight": 1e-4,
    "weight_beyond_names": 1e-4,
}
RERUN_ID, RERUN_AT = "parity-rerun", datetime(2026, 6, 2)
# Both first runs: the id customers are named by.
RUN_ID = "5f0c1a2b-0000-4000-8000-000000000015"


class _FrozenClock(datetime):
    @classmethod
    def now(cls, tz=None):
        return NOW.astimezone(tz) if tz else NOW.replace(tzinfo=None)


def _rows(table: pa.Table) -> list[tuple]:
    """Rows in a stable order, values as Python objects (lists stay lists)."""
    columns = table.column_names
    rows = [tuple(r[c] for c in columns) for r in table.to_pylist()]
    return sorted(rows, key=repr)


def _materialize(engine: str, data_dir: Path, spark: SparkConfig | None, monkeypatch):
    """The sources, identity and the ported stages after it on `engine`, in one Dagster run with
    RUN_ID at NOW; returns the warehouse file."""
    monkeypatch.setenv(ENV_ENGINE, engine)
    monkeypatch.setenv(settings.ENV_DATA_DIR, str(data_dir))
    project.project_config.cache_clear()
    from braze_assets.defs.attributes.definitions import build_defs as attributes_defs
    from braze_assets.defs.customer_360.definitions import build_defs as customer_360_defs
    from braze_assets.defs.identity.assets import build_identity_assets
    from braze_assets.defs.sources.assets import build_source_assets

    for clock in ("customer_360.transactions", "identity.assets"):
        monkeypatch.setattr(f"braze_assets.defs.{clock}.datetime", _FrozenClock)
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
    selection = (
        dg.AssetSelection.groups("sources")
        | dg.AssetSelection.groups("identity")
        | dg.AssetSelection.assets(*PORTED)
    )
    job = dg.Definitions(
        jobs=[dg.define_asset_job("parity", selection=selection)],
        assets=assets,
        resources=resources,
    ).resolve_job_def("parity")
    result = job.execute_in_process(instance=dg.DagsterInstance.ephemeral(), run_id=RUN_ID)
    assert result.success
    return warehouse


# The rerun's scores: the first five linked pairs cut (splits), and five new links, each between
# two records that hold no separation key, taken in record id order (merges where the two belong
# to different customers). Chosen by record ids, so the same pairs on both engines.
RERUN_SCORES = f"""
WITH ranked AS (
    SELECT *, row_number() OVER (PARTITION BY match_probability >= {{t}}
                                 ORDER BY record_id_l, record_id_r) AS k
    FROM {SCORES}
),
free AS (
    SELECT record_id, row_number() OVER (ORDER BY record_id) AS n FROM {STANDARDISED}
    WHERE {{free}}
)
SELECT record_id_l, record_id_r,
       CASE WHEN match_probability >= {{t}} AND k <= 5 THEN 0.0 ELSE match_probability END
           AS match_probability,
       match_weight, held_apart
FROM ranked
UNION ALL
SELECT a.record_id, b.record_id, 1.0, NULL, false
FROM free a JOIN free b ON b.n = a.n + 1 WHERE a.n % 2 = 1 AND a.n < 10
"""


def _rerun(engine, identity):
    """Cluster changed scores again with one run id and moment; the tables it leaves."""
    threshold = float(match_threshold(engine, identity))
    keys = [k for k in identity.separation_keys if k in engine.columns(STANDARDISED)]
    free = " AND ".join(f"{k} IS NULL" for k in keys) or "true"
    engine.create_temp("_parity_scores", RERUN_SCORES.format(t=repr(threshold), free=free))
    engine.write_table(SCORES, "SELECT * FROM _parity_scores")
    engine.drop_temp("_parity_scores")
    report = cluster_and_assign_ids(engine, identity, run_id=RERUN_ID, now=RERUN_AT)
    return report, {t: engine.read_arrow(f"SELECT * FROM {t}") for t in IDENTITY[2:]}


@pytest.fixture(scope="module")
def demo_inputs(tmp_path_factory) -> Path:
    from braze_assets.demo_data import generate_demo_data

    data_dir = tmp_path_factory.mktemp("parity") / "data"
    generate_demo_data(data_dir, people=PEOPLE, as_of=date(2026, 6, 1))
    return data_dir


@pytest.fixture(scope="module")
def both_engines(demo_inputs, spark_session, spark_settings):
    """Every ported stage, once per engine, on the same demo files, with one run id and clock; the
    identity tables of both engines, then a clustering rerun on each engine from DuckDB's
    first-run scores and ids."""
    from braze_assets.engine.duckdb_engine import DuckDBEngine
    from braze_assets.engine.spark_engine import SparkEngine

    with pytest.MonkeyPatch.context() as monkeypatch:
        warehouse = _materialize("duckdb", demo_inputs, None, monkeypatch)
        identity_config = project.project_config().identity
        spark_warehouse = _materialize("spark", demo_inputs, spark_settings, monkeypatch)
        project.project_config.cache_clear()
    spark = SparkEngine(spark_session, spark_settings.location(), spark_settings.splink)
    with duckdb.connect(str(warehouse), read_only=True) as con:
        identity = {
            "duckdb": {t: DuckDBEngine(con).read_arrow(f"SELECT * FROM {t}") for t in IDENTITY},
            "spark": {t: spark.read_arrow(f"SELECT * FROM {t}") for t in IDENTITY},
        }
    with duckdb.connect(str(spark_warehouse), read_only=True) as exported:
        identity["spark_warehouse"] = {
            t: exported.execute(f"SELECT * FROM {t}").to_arrow_table() for t in IDENTITY[2:]
        }
    # The rerun starts both engines from DuckDB's first run (its scores and ids): the scores of
    # the engines differ in the last digits, which could move a pair across the threshold.
    for table in IDENTITY[1:]:
        spark.write_arrow(table, identity["duckdb"][table])
    with duckdb.connect(str(warehouse)) as con:
        identity["rerun"] = {
            "duckdb": _rerun(DuckDBEngine(con), identity_config),
            "spark": _rerun(spark, identity_config),
        }
    con = duckdb.connect(str(warehouse), read_only=True)
    yield con, spark_session, spark_settings.location(), spark_warehouse, identity
    con.close()


def _spark_table(session, location: str, table: str) -> pa.Table:
    return session.read.parquet(f"{location}/{table}").toArrow()


def _assert_same_rows(on_duckdb: pa.Table, on_spark: pa.Table) -> None:
    assert on_spark.column_names == on_duckdb.column_names
    duck_rows, spark_rows = _rows(on_duckdb), _rows(on_spark)
    different = [(d, s) for d, s in zip(duck_rows, spark_rows) if d != s]
    assert not different, different[:3]
    assert len(duck_rows) == len(spark_rows)


@pytest.mark.integration
def test_standardised_records_are_identical(both_engines):
    con, session, location, *_ = both_engines
    on_duckdb = con.execute(f"SELECT * FROM {STANDARDISED}").to_arrow_table()
    assert on_duckdb.num_rows > PEOPLE
    _assert_same_rows(on_duckdb, _spark_table(session, location, STANDARDISED))


@pytest.mark.integration
@pytest.mark.parametrize("table", PORTED + ALSO_WRITTEN)
def test_stages_after_identity_are_identical(both_engines, table):
    """customer_360 (survivorship, address groups, carried columns), transaction_attributes
    (parsing, windows, RFM, money rounding) and braze_customer_attributes with its rejections
    (casts, identifiers, value checks, held-back duplicates), every row and column, each built on
    its engine's own identity tables; Spark mode's warehouse file holds the same table for the
    stages still on DuckDB."""
    con, session, location, spark_warehouse, _ = both_engines
    on_duckdb = con.execute(f"SELECT * FROM {table}").to_arrow_table()
    # The demo's values are all sendable: rejections are compared on bad values below.
    assert on_duckdb.num_rows > PEOPLE // 2 or table in ALSO_WRITTEN
    _assert_same_rows(on_duckdb, _spark_table(session, location, table))
    with duckdb.connect(str(spark_warehouse), read_only=True) as copy:
        _assert_same_rows(on_duckdb, copy.execute(f"SELECT * FROM {table}").to_arrow_table())


@pytest.mark.integration
def test_raw_tables_are_published_to_the_table_location(both_engines):
    con, session, location, *_ = both_engines
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


@pytest.mark.integration
def test_scores_are_the_same_pairs_with_the_same_probabilities(both_engines):
    duck, spark = both_engines[-1]["duckdb"][SCORES], both_engines[-1]["spark"][SCORES]
    assert spark.column_names == duck.column_names
    assert {"person_evidence", "held_apart", "separation_conflict"} <= set(duck.column_names)
    pairs = {}
    for name, table in (("duckdb", duck), ("spark", spark)):
        pairs[name] = {(r["record_id_l"], r["record_id_r"]): r for r in table.to_pylist()}
    assert len(pairs["duckdb"]) == duck.num_rows > 50
    assert pairs["spark"].keys() == pairs["duckdb"].keys()
    kinds = {r["match_type"] for r in pairs["duckdb"].values()}
    assert "probabilistic" in kinds and any(k.startswith("deterministic:") for k in kinds)
    largest = dict.fromkeys(FLOAT_TOLERANCE, 0.0)
    for pair, d in pairs["duckdb"].items():
        s = pairs["spark"][pair]
        for column in duck.column_names:
            if column in FLOAT_TOLERANCE and d[column] is not None and s[column] is not None:
                largest[column] = max(largest[column], abs(d[column] - s[column]))
            else:
                assert d[column] == s[column], (pair, column, d[column], s[column])
    assert all(largest[c] <= FLOAT_TOLERANCE[c] for c in largest), largest
    print(f"largest differences: {largest}")


@pytest.mark.integration
def test_customers_and_their_ids_are_the_same(both_engines):
    """With one run id and clock, the same records form the same customers under the same ids:
    unified_coalesced, the id registry and the assignments are equal, every row and column."""
    identity = both_engines[-1]
    coalesced = identity["duckdb"][tables.UNIFIED_COALESCED]
    customers = set(coalesced.column("customer_id").to_pylist())
    assert PEOPLE / 2 < len(customers) < coalesced.num_rows
    registry = identity["duckdb"][REGISTRY].to_pylist()
    assert {r["customer_id"] for r in registry} == customers
    assert all(r["status"] == "active" for r in registry)
    for table in IDENTITY[2:]:
        _assert_same_rows(identity["duckdb"][table], identity["spark"][table])


@pytest.mark.integration
def test_spark_mode_exports_the_ids_to_the_warehouse_for_duckdb_stages(both_engines):
    for table in (tables.UNIFIED_COALESCED, REGISTRY, ASSIGNMENTS):
        exported = both_engines[-1]["spark_warehouse"][table]
        assert exported.num_rows == both_engines[-1]["spark"][table].num_rows > 0


@pytest.mark.integration
def test_rerun_carries_the_same_ids_over_on_both_engines(both_engines):
    """From the same stored ids and changed scores, a clustering run with one run id keeps,
    merges, splits and names the same ids on both engines: the same registry, assignments and
    unified_coalesced, exactly."""
    duck_report, duck = both_engines[-1]["rerun"]["duckdb"]
    spark_report, spark = both_engines[-1]["rerun"]["spark"]
    assert duck_report.merged > 0 and duck_report.split > 0 and duck_report.unchanged > 0
    assert spark_report == duck_report
    for table in IDENTITY[2:]:
        _assert_same_rows(duck[table], spark[table])


@pytest.mark.integration
def test_the_trained_model_is_found_again_on_both_engines(both_engines):
    """The next run reuses the stored model (a parameterised query on Spark too)."""
    from braze_assets.engine.duckdb_engine import DuckDBEngine
    from braze_assets.engine.spark_engine import SparkEngine
    from braze_assets.identity.match import MODEL_TABLE, _stored_model

    con, session, location, *_ = both_engines
    for engine in (DuckDBEngine(con), SparkEngine(session, location)):
        fingerprint, records = engine.fetch(f"SELECT fingerprint, records FROM {MODEL_TABLE}")[0]
        model = _stored_model(engine, fingerprint, records, growth=0.2)
        assert model is not None and model["comparisons"], engine.name
        assert _stored_model(engine, "another configuration", records, growth=0.2) is None
