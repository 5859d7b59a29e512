"""Spark and DuckDB, on the same inputs, build the same tables: the demo's sources, identity and
the ported stages after it are materialised through Dagster once per engine, and every table is
compared row for row, every column.

Customer ids are UUIDs named by the run that created them and stamped with its clock, so both runs
get one run id and one frozen clock: the same clustering then names the same customers alike, and
the stages after identity see the same ids on both engines. A rerun of the clustering on changed
scores, with one run id on both engines, then checks the stable-id carry-over: kept, merged, split
and new ids alike.

The flow then goes on as `braze-assets demo` runs it: the demo config's campaigns and
orchestration (one partition each), the day's attribute snapshot and the sync to a Braze sandbox
of the engine's own, seeded with the demo workspace's users; then the sync once more, which sends
nothing and holds back what the sandbox rejected. Audience members, the snapshot (key ids and
value hashes included), what each sandbox received and the data points spent are compared too."""

from __future__ import annotations

import shutil
from datetime import UTC, date, datetime
from pathlib import Path
from types import SimpleNamespace

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
from braze_assets.sync.tables import CONFIRMED, REJECTIONS, SNAPSHOTS

# One Dagster run per engine up to the attributes, then the demo's audience, snapshot and sync
# runs; Splink on Spark cuts its work tables with local checkpoints (the tests' conf,
# conftest.py). In the default run: its Spark runs share the one JVM of the suite's spark group
# (braze_assets_tests/conftest.py).
pytestmark = [pytest.mark.timeout(1200)]

PEOPLE = 300
# transaction_attributes counts orders in windows ending now, segments look back from now and
# order events within a lookback from now: both runs see the same moment, the snapshot's day.
NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)
DAY = NOW.date()
PORTED = (tables.CUSTOMER_360, tables.TRANSACTION_ATTRIBUTES, tables.BRAZE_CUSTOMER_ATTRIBUTES)
# Tables a ported stage writes beside its asset's own.
ALSO_WRITTEN = ("braze_attribute_rejections",)
# What the campaign audiences and the snapshot write; computed_at is the run's wall clock.
LATER = (
    tables.AUDIENCE_MEMBERS,
    tables.CAMPAIGN_MEMBER_ATTRIBUTES,
    tables.CAMPAIGN_RECIPIENTS,
    SNAPSHOTS,
)
NOT_COMPARED = {"computed_at"}
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
# Both first runs: the id customers are named by (the audience runs take the next numbers).
RUN_ID = "5f0c1a2b-0000-4000-8000-000000000015"
# Modules that read the clock where the flow's results depend on it.
CLOCKS = ("customer_360.transactions", "identity.assets", "audiences.assets")
# The sync's metadata that are the run's own: its id and how long it took.
RUN_OWN = {"sync_run_id", "duration_s"}


class _FrozenClock(datetime):
    @classmethod
    def now(cls, tz=None):
        return NOW.astimezone(tz) if tz else NOW.replace(tzinfo=None)


def _rows(table: pa.Table) -> list[tuple]:
    """Rows in a stable order, values as Python objects (lists stay lists), without the run's
    wall-clock times."""
    columns = [c for c in table.column_names if c not in NOT_COMPARED]
    rows = [tuple(r[c] for c in columns) for r in table.to_pylist()]
    return sorted(rows, key=repr)


def _definitions(resources: dict) -> dg.Definitions:
    """The assets of the demo's daily flow but Currents' (no engagement: the attribute view fills
    its columns with NULLs), without their checks (the sync asset runs the payload gate itself)."""
    from braze_assets.defs.attributes.definitions import build_defs as attributes_defs
    from braze_assets.defs.audiences.definitions import build_defs as audiences_defs
    from braze_assets.defs.customer_360.definitions import build_defs as customer_360_defs
    from braze_assets.defs.identity.assets import build_identity_assets
    from braze_assets.defs.jobs.jobs import braze_daily_sync, campaign_audiences_refresh
    from braze_assets.defs.snapshots.definitions import build_defs as snapshots_defs
    from braze_assets.defs.sources.assets import build_source_assets
    from braze_assets.defs.sync.assets import sync_asset_key
    from braze_assets.defs.sync.definitions import build_defs as sync_defs

    config = project.project_config()
    assets = build_source_assets(config) + build_identity_assets(config, config.identity)
    for domain in (customer_360_defs, attributes_defs, audiences_defs, snapshots_defs, sync_defs):
        assets += list(domain().assets)
    selection = (
        dg.AssetSelection.groups("sources")
        | dg.AssetSelection.groups("identity")
        | dg.AssetSelection.assets(*PORTED)
    )
    jobs = [
        dg.define_asset_job("parity", selection=selection),
        campaign_audiences_refresh,
        braze_daily_sync,
        dg.define_asset_job("sync_again", selection=[sync_asset_key("braze")]),
    ]
    return dg.Definitions(jobs=jobs, assets=assets, resources=resources)


def _sync_metadata(result) -> dict:
    from braze_assets.defs.sync.assets import sync_asset_key

    op = sync_asset_key("braze").to_python_identifier()
    metadata = next(iter(result.asset_materializations_for_node(op))).metadata
    return {k: v.value for k, v in metadata.items() if k not in RUN_OWN}


def _materialize(engine: str, data_dir: Path, spark: SparkConfig | None, monkeypatch) -> dict:
    """The demo's daily flow on `engine` in `data_dir`, with RUN_ID at NOW: sources, identity and
    the ported stages after it in one Dagster run, every campaign's audience, then the day's
    snapshot and sync to a sandbox seeded as the demo seeds it, and the sync once more. What the
    runs reported and the sandbox received; the warehouse file is data_dir/warehouse.duckdb."""
    from braze_assets.cli.demo import _workspace_users
    from braze_assets.cli.demo_lifecycle import ensure_privacy_table
    from braze_assets.defs.braze.resources import BrazeResource
    from braze_assets.sandbox import DEFAULT_API_KEY, SandboxServer

    monkeypatch.setenv(ENV_ENGINE, engine)
    monkeypatch.setenv(settings.ENV_DATA_DIR, str(data_dir))
    project.project_config.cache_clear()
    for clock in CLOCKS:
        monkeypatch.setattr(f"braze_assets.defs.{clock}.datetime", _FrozenClock)
    monkeypatch.setattr("braze_assets.lifecycle.orders.now_utc", _FrozenClock.now)
    warehouse = data_dir / "warehouse.duckdb"
    ensure_privacy_table(warehouse)  # the demo's deletion source, as the demo creates it
    sandbox = SandboxServer(data_dir / "sandbox", rate_limit_requests=None).start()
    resources = {
        WAREHOUSE_KEY: WarehouseResource(database=str(warehouse)),
        "braze": BrazeResource(api_key=DEFAULT_API_KEY, rest_endpoint=sandbox.url),
    }
    if spark is not None:
        from braze_assets.defs.spark import spark_resource

        resources["spark"] = spark_resource(spark)
    definitions = _definitions(resources)
    instance = dg.DagsterInstance.ephemeral()

    def run(job: str, partition: str | None = None, run_id: str | None = None):
        result = definitions.resolve_job_def(job).execute_in_process(
            instance=instance, partition_key=partition, run_id=run_id
        )
        assert result.success, (engine, job, partition)
        return result

    try:
        sandbox.seed_users(u["external_id"] for u in _workspace_users(data_dir))
        run("parity", run_id=RUN_ID)
        audiences = definitions.resolve_job_def("campaign_audiences_refresh")
        reports = {}
        for n, name in enumerate(audiences.partitions_def.get_partition_keys(), start=1):
            result = run(audiences.name, name, f"{RUN_ID[:-12]}{n:012d}")
            for event in result.asset_materializations_for_node("campaign_audiences_and_history"):
                key = (name, event.asset_key.to_user_string())
                reports[key] = {k: v.value for k, v in event.metadata.items()}
        sync = _sync_metadata(run("braze_daily_sync", DAY.isoformat()))
        again = _sync_metadata(run("sync_again", DAY.isoformat()))
        sent = {
            # The profiles as the sandbox holds them, without the clock time each was created at.
            "profiles": sorted(
                ({k: v for k, v in p.items() if k != "created_at"} for p in sandbox.profiles()),
                key=repr,
            ),
            "received": sandbox.received_by_user(),
            "events": sorted(sandbox.events(), key=repr),
            "data_points": sandbox.data_points(),
        }
    finally:
        sandbox.stop()
    kinds = {
        spec.key.to_user_string(): set(spec.kinds)
        for asset in definitions.assets
        for spec in asset.specs
        if spec.group_name in ("audiences", "snapshots", "sync")
    }
    with duckdb.connect(str(warehouse), read_only=True) as con:
        stored = {t: _table(con, t) for t in (SNAPSHOTS, CONFIRMED, REJECTIONS)}
    return {
        "warehouse": warehouse,
        "audiences": reports,
        "sync": sync,
        "sync_again": again,
        "sent": sent,
        "stored": stored,
        "kinds": kinds,
        "source_kinds": {
            spec.key.to_user_string(): set(spec.kinds)
            for asset in definitions.assets
            for spec in asset.specs
            if spec.group_name == "sources"
        },
    }


def _table(con, table: str) -> list[tuple]:
    """Every row of a warehouse table, every column but the run's clock times and ids; key ids
    and hashes as text."""
    columns = [
        c
        for c, *_ in con.execute(f"DESCRIBE {table}").fetchall()
        if c not in {"computed_at", "confirmed_at", "rejected_at", "first_rejected_at", "run_id"}
    ]
    cast = ", ".join(
        f"CAST({c} AS VARCHAR)" if c in ("key_id", "value_hash") else c for c in columns
    )
    return sorted(con.execute(f"SELECT {cast} FROM {table}").fetchall(), key=repr)


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


def _forget_session_tables(session) -> None:
    """Tables are session views and the session is shared: forget the other tests' tables."""
    for table in session.catalog.listTables():
        if table.isTemporary:
            session.catalog.dropTempView(table.name)


@pytest.fixture(scope="module")
def both_engines(demo_inputs, spark_session, spark_settings):
    """The demo's flow, once per engine, on copies of the same demo files (a data dir each: the
    sync's journal lives there), with one run id and clock; the identity tables of both engines,
    then a clustering rerun on each engine from DuckDB's first-run scores and ids."""
    from braze_assets.engine.duckdb_engine import DuckDBEngine
    from braze_assets.engine.spark_engine import SparkEngine

    root = demo_inputs.parent
    dirs = {name: Path(shutil.copytree(demo_inputs, root / name)) for name in ("duckdb", "spark")}
    # A table location of its own: the session's other tables stay out of these runs.
    spark_settings = spark_settings.model_copy(update={"table_location": str(root / "tables")})
    location = spark_settings.location()
    _forget_session_tables(spark_session)
    with pytest.MonkeyPatch.context() as monkeypatch:
        flows = {"duckdb": _materialize("duckdb", dirs["duckdb"], None, monkeypatch)}
        identity_config = project.project_config().identity
        flows["spark"] = _materialize("spark", dirs["spark"], spark_settings, monkeypatch)
        project.project_config.cache_clear()
    warehouse, spark_warehouse = flows["duckdb"]["warehouse"], flows["spark"]["warehouse"]
    spark = SparkEngine(spark_session, location, spark_settings.splink)
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
    yield SimpleNamespace(
        con=con,
        session=spark_session,
        location=location,
        spark_warehouse=spark_warehouse,
        identity=identity,
        flows=flows,
    )
    con.close()
    _forget_session_tables(spark_session)


def _spark_table(session, location: str, table: str) -> pa.Table:
    # Recursive, as the engine reads a table: appended rows (a new run's history, a new snapshot
    # day) are directories inside the table's.
    reader = session.read.option("recursiveFileLookup", "true")
    return reader.parquet(f"{location}/{table}").toArrow()


def _assert_same_in_spark_mode(parity, table: str, on_duckdb: pa.Table) -> None:
    """Spark mode's table at the table location and its copy in the warehouse file (for the
    stages still on DuckDB) hold DuckDB mode's rows."""
    _assert_same_rows(on_duckdb, _spark_table(parity.session, parity.location, table))
    with duckdb.connect(str(parity.spark_warehouse), read_only=True) as copy:
        _assert_same_rows(on_duckdb, copy.execute(f"SELECT * FROM {table}").to_arrow_table())


def _assert_same_rows(on_duckdb: pa.Table, on_spark: pa.Table) -> None:
    assert on_spark.column_names == on_duckdb.column_names
    duck_rows, spark_rows = _rows(on_duckdb), _rows(on_spark)
    assert len(spark_rows) == len(duck_rows)
    different = [(d, s) for d, s in zip(duck_rows, spark_rows) if d != s]
    assert not different, different[:3]


@pytest.mark.integration
def test_standardised_records_are_identical(both_engines):
    on_duckdb = both_engines.con.execute(f"SELECT * FROM {STANDARDISED}").to_arrow_table()
    assert on_duckdb.num_rows > PEOPLE
    _assert_same_rows(
        on_duckdb, _spark_table(both_engines.session, both_engines.location, STANDARDISED)
    )


@pytest.mark.integration
@pytest.mark.parametrize("table", PORTED + ALSO_WRITTEN)
def test_stages_after_identity_are_identical(both_engines, table):
    """customer_360 (survivorship, address groups, carried columns), transaction_attributes
    (parsing, windows, RFM, money rounding) and braze_customer_attributes with its rejections
    (casts, identifiers, value checks, held-back duplicates), every row and column, each built on
    its engine's own identity tables; Spark mode's warehouse file holds the same table for the
    stages still on DuckDB."""
    on_duckdb = both_engines.con.execute(f"SELECT * FROM {table}").to_arrow_table()
    # The demo's values are all sendable: rejections are compared on bad values below.
    assert on_duckdb.num_rows > PEOPLE // 2 or table in ALSO_WRITTEN
    _assert_same_in_spark_mode(both_engines, table, on_duckdb)


@pytest.mark.integration
def test_sources_are_read_on_spark_into_the_same_raw_tables(both_engines):
    """Spark mode reads each source file in a Spark task (sources/engine_load.py): the raw tables
    at the table location, and the warehouse's views of them (for the lifecycle on DuckDB), hold
    DuckDB mode's rows, `_row_number` and `_source_file` included."""
    config = project.project_config()
    tables = [f"raw_{s.name}" for s in config.sources]
    tables += [f"raw_txn_{t.name}" for t in config.transactions]
    spark, duck = both_engines.flows["spark"], both_engines.flows["duckdb"]
    # Each engine read its own copy of the demo files: `_source_file` names them in its data dir.
    dirs = [str(flow["warehouse"].parent) for flow in (duck, spark)]
    for table in tables:
        on_duckdb = both_engines.con.execute(
            f"SELECT * REPLACE (replace(_source_file, ?, ?) AS _source_file) FROM {table}", dirs
        ).to_arrow_table()
        assert on_duckdb.num_rows > 0
        assert on_duckdb.column("_source_file")[0].as_py().startswith(dirs[1])
        _assert_same_in_spark_mode(both_engines, table, on_duckdb)
    assert set(spark["source_kinds"]) == set(tables)
    assert all("spark" in k and "duckdb" not in k for k in spark["source_kinds"].values())
    assert all("duckdb" in k and "spark" not in k for k in duck["source_kinds"].values())
    with duckdb.connect(str(both_engines.spark_warehouse), read_only=True) as copy:
        kinds = dict(
            copy.execute(
                "SELECT table_name, table_type FROM information_schema.tables "
                "WHERE table_name LIKE 'raw_%'"
            ).fetchall()
        )
    assert kinds == dict.fromkeys(tables, "VIEW")


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
    # The demo's value-check cache would otherwise be found here.
    _forget_session_tables(spark_session)
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
    duck, spark = both_engines.identity["duckdb"][SCORES], both_engines.identity["spark"][SCORES]
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
    identity = both_engines.identity
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
        exported = both_engines.identity["spark_warehouse"][table]
        assert exported.num_rows == both_engines.identity["spark"][table].num_rows > 0


@pytest.mark.integration
def test_rerun_carries_the_same_ids_over_on_both_engines(both_engines):
    """From the same stored ids and changed scores, a clustering run with one run id keeps,
    merges, splits and names the same ids on both engines: the same registry, assignments and
    unified_coalesced, exactly."""
    duck_report, duck = both_engines.identity["rerun"]["duckdb"]
    spark_report, spark = both_engines.identity["rerun"]["spark"]
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

    con, session = both_engines.con, both_engines.session
    for engine in (DuckDBEngine(con), SparkEngine(session, both_engines.location)):
        fingerprint, records = engine.fetch(f"SELECT fingerprint, records FROM {MODEL_TABLE}")[0]
        model = _stored_model(engine, fingerprint, records, growth=0.2)
        assert model is not None and model["comparisons"], engine.name
        assert _stored_model(engine, "another configuration", records, growth=0.2) is None


@pytest.mark.integration
@pytest.mark.parametrize("table", LATER)
def test_audience_members_and_the_snapshot_are_identical(both_engines, table):
    """The demo's campaigns and orchestration (segments, exclusions, sub-audiences, a control
    group, campaign attributes, an SQL audience) and the day's attribute snapshot, key ids and
    value hashes included, every row and column but the runs' wall-clock times; Spark mode's
    warehouse file holds the same rows for the payload gate and the lifecycle."""
    on_duckdb = both_engines.con.execute(f"SELECT * FROM {table}").to_arrow_table()
    assert on_duckdb.num_rows > 10
    _assert_same_in_spark_mode(both_engines, table, on_duckdb)


@pytest.mark.integration
def test_the_audience_runs_report_the_same(both_engines):
    """Each campaign's run reports the same sizes, joins and control group on both engines. The
    control group hashes the customer id, which is the same on both (one run id and clock)."""
    duck, spark = (both_engines.flows[e]["audiences"] for e in ("duckdb", "spark"))
    assert spark == duck
    members = {k: v for k, v in duck.items() if k[1] == tables.CAMPAIGN_AUDIENCES}
    assert len(members) == len(project.project_config().audiences.activations()) > 1
    # A first run: every treatment member joins; the control group is held out of Braze.
    for m in members.values():
        assert m["joins"] == m["treatment_size"] == m["audience_size"] - m["control_group_size"] > 0
    assert sum(m["control_group_size"] for m in members.values()) > 0
    assert sum(m["excluded"] for m in members.values()) > 0


@pytest.mark.integration
def test_the_sandbox_receives_the_same_from_both_engines(both_engines):
    """In Spark mode the snapshot is built at the table location and the payload gate and the diff
    run on Spark; each engine's sync sends to a sandbox of its own. Every profile as the sandbox
    holds it, the objects it accepted per user, the order events and the data points spent are
    DuckDB mode's, and so are the run's counts and the confirmed state and rejections after it.
    The sync run again sends nothing and holds back what the sandbox rejected (unknown users: the
    destination updates existing profiles only), from the state copied to Spark."""
    duck, spark = both_engines.flows["duckdb"], both_engines.flows["spark"]
    assert all("spark" in kinds and "duckdb" not in kinds for kinds in spark["kinds"].values())
    assert all("duckdb" in kinds for kinds in duck["kinds"].values())
    assert len(duck["kinds"]) == 4  # members, history, snapshot, sync
    assert spark["sync"] == duck["sync"]
    assert spark["sent"] == duck["sent"]
    assert spark["stored"] == duck["stored"]
    assert spark["sync_again"] == duck["sync_again"]
    # The scenario does what it says: values delivered and rejected, order events sent (one data
    # point each, beside the attributes'), the confirmed state and rejections after the run.
    sync, sent = duck["sync"], duck["sent"]
    assert sync["delivered"] == len(sent["received"]) > PEOPLE // 4 and sync["rejected"] > 0
    assert len(sent["events"]) == sync["order_events_confirmed"] > 0
    assert sent["data_points"]["total"] == sync["data_points_spent"] + len(sent["events"])
    assert duck["stored"][CONFIRMED] and duck["stored"][REJECTIONS]
    again = duck["sync_again"]
    assert again["rows_changed"] == again["data_points_spent"] == 0
    assert again["held_back_rejected"] == len(duck["stored"][REJECTIONS])
