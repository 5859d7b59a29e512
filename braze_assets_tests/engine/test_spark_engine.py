"""The Spark engine's own parts: dialect rewrites, the table swap, and the s3a:// location check."""

from __future__ import annotations

import uuid
from contextlib import contextmanager

import duckdb
import pyarrow as pa
import pytest

from braze_assets.defs.engine import _table_files
from braze_assets.engine import EngineStartupError
from braze_assets.engine.spark_engine import SparkEngine, to_spark_sql
from braze_assets.engine.startup import check_location_through_spark
from braze_assets.sync.tables import VALUE_HASH_SQL, key_id_sql


def test_try_strptime_becomes_try_to_timestamp():
    sql = to_spark_sql("SELECT try_strptime(x, '%m/%d/%Y %H:%M') AS t FROM s")
    assert sql == "SELECT TRY_TO_TIMESTAMP(x, 'MM/dd/yyyy HH:mm') AS t FROM s"
    qualify = to_spark_sql(
        "SELECT a FROM s QUALIFY row_number() OVER (PARTITION BY a ORDER BY b DESC) = 1"
    )
    assert "QUALIFY" not in qualify.upper()


@pytest.mark.integration
def test_values_parse_alike_and_tables_swap(spark_session, tmp_path):
    engine = SparkEngine(spark_session, str(tmp_path / "tables"))
    engine.register("_dates", pa.table({"raw": ["03/04/2024 10:11", "2024-03-04 10:11:00", "x"]}))
    engine.write_table(
        "parsed",
        "SELECT raw, coalesce(try_cast(raw AS TIMESTAMP), try_strptime(raw, '%m/%d/%Y %H:%M')) "
        "AS at FROM _dates",
    )
    rows = dict(engine.fetch("SELECT raw, CAST(at AS VARCHAR) FROM parsed"))
    assert rows == {
        "03/04/2024 10:11": "2024-03-04 10:11:00",
        "2024-03-04 10:11:00": "2024-03-04 10:11:00",
        "x": None,
    }
    # A replace reads the old table and swaps the new one in; a new engine finds it stored.
    engine.write_table("parsed", "SELECT raw FROM parsed WHERE at IS NULL")
    again = SparkEngine(spark_session, str(tmp_path / "tables"))
    assert again.fetch("SELECT raw FROM parsed") == [("x",)]
    assert not (tmp_path / "tables" / "parsed__building").exists()


@pytest.mark.integration
def test_s3a_location_without_the_connector_is_one_clear_line(spark_session):
    with pytest.raises(EngineStartupError) as error:
        check_location_through_spark(spark_session, "s3a://some-bucket/tables")
    message = str(error.value)
    assert "s3a://some-bucket/tables" in message and "hadoop-aws" in message
    assert "\n" not in message


# DuckDB SQL the stages use whose Spark spelling sqlglot does not give by itself (spark_engine's
# rewrites): each query runs on both engines over the same rows and must return the same values.
REWRITTEN = {
    "top_n": "SELECT k, min_by(v, o, 2) AS firsts, max_by(v, o, 2) AS lasts, "
    "min_by(v, o, 2)[2] AS second, min_by(v, o, 2)[3] AS past_the_end "
    "FROM _orders GROUP BY k ORDER BY k",
    "hugeint": "SELECT k, CAST(sum(o) * 100 AS HUGEINT) // 3 AS cents FROM _orders GROUP BY k ORDER BY k",
    "utc": "SELECT raw, CASE WHEN regexp_matches(raw, '(Z|z|[+-][0-9]{2}:?[0-9]{2})$') "
    "THEN TRY_CAST(raw AS TIMESTAMPTZ) AT TIME ZONE 'UTC' ELSE TRY_CAST(raw AS TIMESTAMP) END AS at "
    "FROM _times ORDER BY raw",
    # An instant's UTC wall time (segments on a TIMESTAMPTZ column), and `within last days`.
    "utc_wall_time": "SELECT raw, CAST(timezone('UTC', TRY_CAST(raw AS TIMESTAMPTZ)) AS VARCHAR) "
    "FROM _times WHERE raw LIKE '%+02:00' OR raw LIKE '%Z' ORDER BY raw",
    "days": "SELECT CAST(CAST('2024-03-04 10:00:00' AS TIMESTAMP) - to_days(CAST(3 AS INTEGER)) "
    "AS VARCHAR), CAST(CAST('2024-03-04' AS DATE) - CAST(3 AS INTEGER) AS VARCHAR)",
    # The sync's key id and value hash: the same numbers on both engines (switching resends nothing).
    "key_hashes": f"SELECT v, CAST({key_id_sql('k', 'v', 'k')} AS VARCHAR), "
    f"CAST({VALUE_HASH_SQL} AS VARCHAR) FROM (SELECT k, v, v AS value_json FROM _orders) ORDER BY v",
    # The payload gate's JSON check.
    "json_valid": "SELECT raw, json_valid(raw) FROM (SELECT raw FROM _times UNION ALL "
    "SELECT * FROM (VALUES ('null'), ('\"x\"'), ('[1, {\"a\": 2.5}]'), ('{\"a\":'), "
    "('tru'), (CAST(NULL AS VARCHAR))) t(raw)) ORDER BY raw NULLS LAST",
}
ORDERS = pa.table(
    {"k": ["a", "a", "a", "b"], "o": [3, 1, 2, 5], "v": ["third", "first", "second", "only"]}
)
TIMES = pa.table(
    {
        "raw": [
            "2024-03-04T10:11:12+02:00",
            "2024-03-04 10:11:12Z",
            "2024-03-04T10:11:12-0530",
            "2024-03-04 10:11:12",
            "not a time",
        ]
    }
)


def test_rewrites_leave_no_duckdb_only_syntax():
    top_n = to_spark_sql(REWRITTEN["top_n"])
    assert "MIN_BY" not in top_n and "TRY_ELEMENT_AT" in top_n
    assert "INT128" not in to_spark_sql(REWRITTEN["hugeint"])
    assert "TIMESTAMP_LTZ" in to_spark_sql(REWRITTEN["utc"])


@pytest.mark.integration
@pytest.mark.parametrize("query", sorted(REWRITTEN))
def test_rewritten_sql_gives_duckdbs_values(spark_session, tmp_path, query):
    import duckdb

    from braze_assets.engine.duckdb_engine import DuckDBEngine

    spark = SparkEngine(spark_session, str(tmp_path / "tables"))
    with duckdb.connect() as con:
        con.execute("SET TimeZone = 'UTC'")
        duck = DuckDBEngine(con)
        for engine in (duck, spark):
            engine.register("_orders", ORDERS)
            engine.register("_times", TIMES)
        expected = duck.fetch(REWRITTEN[query])
    assert spark.fetch(REWRITTEN[query]) == expected
    if query == "top_n":
        assert expected[0] == ("a", ["first", "second"], ["third", "second"], "second", None)
    if query == "key_hashes":
        digest = md5("a\x1ffirst\x1fa")
        assert expected[0] == ("first", str(int(digest[:31], 16)), str(int(md5("first")[:16], 16)))
    if query == "json_valid":
        assert dict(expected)["null"] is True and dict(expected)["tru"] is False
        assert dict(expected)[None] is None


def md5(text: str) -> str:
    import hashlib

    return hashlib.md5(text.encode()).hexdigest()


@pytest.mark.integration
def test_tables_are_created_and_rows_replaced_alike(spark_session, tmp_path):
    """create_table (DuckDB types, JSON and unsigned ones too), replace_rows and a temp table
    with bound parameters (a naive UTC datetime, a date, text) give the same rows on both."""
    import datetime as dt

    import duckdb

    from braze_assets.engine.duckdb_engine import DuckDBEngine

    spark = SparkEngine(spark_session, str(tmp_path / "tables"))
    params = [dt.datetime(2024, 3, 4, 10, 0), dt.date(2024, 3, 1), "b"]
    found = {}
    with duckdb.connect() as con:
        for engine in (DuckDBEngine(con), spark):
            engine.create_table("kept", "k VARCHAR, v JSON NULL, n UBIGINT, seen TIMESTAMP")
            engine.create_table("kept", "k VARCHAR")  # exists: left as it is
            engine.register("_rows", pa.table({"k": ["a", "b", "c"], "n": [1, 2, 3]}))
            engine.create_temp(
                "_new",
                "SELECT k, CAST(NULL AS VARCHAR) AS v, n, CAST(? AS TIMESTAMP) AS seen FROM _rows "
                "WHERE CAST(? AS DATE) < DATE '2024-03-02' AND k <> ?",
                params,
            )
            engine.replace_rows("kept", "true", "SELECT * FROM _new ORDER BY k")
            engine.replace_rows(
                "kept", "k = 'a'", "SELECT 'd', '[1]', 4, seen FROM _new WHERE k = 'c'"
            )
            found[engine.name] = sorted(
                engine.fetch("SELECT k, v, CAST(n AS BIGINT), CAST(seen AS VARCHAR) FROM kept")
            )
            assert engine.columns("kept") == ["k", "v", "n", "seen"]
    assert (
        found["spark"]
        == found["duckdb"]
        == [
            ("c", None, 3, "2024-03-04 10:00:00"),
            ("d", "[1]", 4, "2024-03-04 10:00:00"),
        ]
    )


@pytest.mark.integration
def test_rows_with_nothing_to_replace_are_added_without_rewriting_the_table(
    spark_session, tmp_path
):
    """A new run's history rows (campaign_recipients) or a new day's snapshot are added as a
    directory of files moved into the table's in one rename (a killed append, left hidden, is
    read by no one and removed by the next); replacing rows that exist rewrites the table."""
    import shutil

    engine = SparkEngine(spark_session, str(tmp_path / "tables"))
    engine.write_arrow("history", pa.table({"run": ["r1", "r1"], "n": [1, 2]}))
    table = tmp_path / "tables" / "history"

    def files() -> set:
        return set(table.rglob("*.parquet"))

    first = files()
    engine.replace_rows("history", "run = 'r2'", "SELECT 'r2', CAST(3 AS INTEGER)")
    assert first < files()
    # An append killed before its rename: its rows are nobody's.
    shutil.copytree(next(table.glob("appended-*")), table / "_appending-killed")
    expected = [("r1", 1), ("r1", 2), ("r2", 3)]
    assert sorted(SparkEngine(spark_session, engine.location).fetch("SELECT * FROM history")) == (
        expected
    )
    with duckdb.connect() as con:
        copied = con.execute(
            f"SELECT * FROM read_parquet({_table_files(engine.location, 'history')})"
        ).fetchall()
    assert sorted(copied) == expected
    assert engine.column_types("SELECT * FROM history")["n"] == "BIGINT"
    engine.replace_rows("history", "run = 'r3'", "SELECT 'r3', 5")
    assert not (table / "_appending-killed").exists()
    engine.replace_rows("history", "run = 'r2'", "SELECT 'r2', CAST(4 AS BIGINT)")
    assert not first & files()
    assert sorted(engine.fetch("SELECT * FROM history")) == [
        ("r1", 1),
        ("r1", 2),
        ("r2", 4),
        ("r3", 5),
    ]


def test_splink_runs_with_the_configured_lineage_break(spark_session, tmp_path):
    """engine.spark.splink reaches Splink's SparkAPI. local_checkpoint cuts a work table's plan
    (its rows kept by Spark, nothing cached); parquet needs a checkpoint directory, which the
    engine sets under the table location when Spark has none."""
    from braze_assets.engine.config import SplinkOnSpark

    cheap = SplinkOnSpark(break_lineage="local_checkpoint", num_partitions_on_repartition=3)
    api = SparkEngine(spark_session, str(tmp_path / "a"), cheap).splink_api()
    assert api.num_partitions_on_repartition == 3
    frame_class = type(spark_session.range(1))
    persist = frame_class.persist
    cut = api._break_lineage_and_repartition(
        spark_session.range(5), "__splink__df_comparison_vectors", "__splink__cut"
    )
    assert frame_class.persist is persist
    assert not cut.is_cached and cut.count() == 5
    assert "Range" not in cut._jdf.queryExecution().analyzed().toString()
    api = SparkEngine(spark_session, str(tmp_path / "b")).splink_api()
    assert api.break_lineage_method == "parquet" and api.repartition_after_blocking is False
    assert not spark_session.sparkContext._jsc.sc().getCheckpointDir().isEmpty()


@contextmanager
def _jobs_run(session):
    """The number of Spark jobs the block ran (yielded list, filled on exit): the jobs of a job
    group of its own. Counting all the session's jobs before and after failed once the shared
    session had run more jobs than Spark keeps (spark.ui.retainedJobs, 1,000): the count fell."""
    context = session.sparkContext
    group = f"counted-{uuid.uuid4()}"
    context.setJobGroup(group, group)
    counted: list[int] = []
    try:
        yield counted
    finally:
        counted.append(len(context.statusTracker().getJobIdsForGroup(group)))
        context.setLocalProperty("spark.jobGroup.id", None)
        context.setLocalProperty("spark.job.description", None)


@pytest.mark.integration
def test_splink_em_counts_patterns_on_spark_and_iterates_on_duckdb(spark_session, tmp_path):
    """Splink's EM on Spark: the agreement patterns are counted by one Spark query, the
    iterations over them run on DuckDB, so the Spark jobs of a session do not grow with its
    iterations (each iteration was eight jobs), and it trains what a DuckDB linker trains; u
    sampling's counts go to DuckDB's proportions step without a Spark table."""
    import duckdb
    import splink.comparison_library as cl
    from splink import Linker, SettingsCreator, block_on

    from braze_assets.engine.duckdb_engine import DuckDBEngine

    first = ["ann", "ann", "bob", "bob", "cat", "cat", "dan", "dan", "eve", "eve"] * 4
    records = pa.table(
        {
            "record_id": [f"r{i}" for i in range(len(first))],
            "first": first,
            "surname": [["lee", "lea", "kim"][i % 3] for i in range(len(first))],
            "city": [["oslo", "rome"][i % 2] for i in range(len(first))],
        }
    )
    iterations = 30
    settings = SettingsCreator(
        link_type="dedupe_only",
        unique_id_column_name="record_id",
        comparisons=[
            cl.ExactMatch(f).configure(m_probabilities=[0.8, 0.2], u_probabilities=[0.3, 0.7])
            for f in ("first", "surname")
        ],
        blocking_rules_to_generate_predictions=[block_on("city")],
        probability_two_random_records_match=0.1,
        max_iterations=iterations,
        em_convergence=1e-15,
    )
    trained, jobs = {}, 0
    with duckdb.connect() as con:
        spark = SparkEngine(spark_session, str(tmp_path / "t"))
        for engine in (DuckDBEngine(con), spark):
            engine.register("_em_records", records)
            linker = Linker(engine.splink_api().register("_em_records"), settings)
            with _jobs_run(spark_session) as counted:
                session = linker.training.estimate_parameters_using_expectation_maximisation(
                    block_on("city"), estimate_without_term_frequencies=True
                )
            jobs = counted[0]
            assert len(session._core_model_settings_history) == iterations + 1
            model = linker.misc.save_model_to_json()
            trained[engine.name] = [
                level[p]
                for comparison in model["comparisons"]
                for level in comparison["comparison_levels"]
                if not level.get("is_null_level")
                for p in ("m_probability", "u_probability")
            ]
    assert 0 < jobs < iterations
    assert len(trained["duckdb"]) == 8
    assert trained["spark"] == pytest.approx(trained["duckdb"], rel=1e-9)
    # u sampling's counts: the same u as Splink's own SparkAPI drawing the same sample (the
    # shared record hash, splink_dialects.py), with fewer Spark jobs.
    from splink import SparkAPI

    from braze_assets.engine.splink_dialects import spark_dialect

    class SparkAPIOnTheSharedHash(SparkAPI):
        sql_dialect = spark_dialect()()

    sampled = {}
    for api in (spark.splink_api(), SparkAPIOnTheSharedHash(spark_session=spark_session)):
        linker = Linker(api.register("_em_records"), settings)
        # One chunk: Splink's default of ten (plus a probe) repeats every job per chunk, which
        # made this the suite's slowest test without telling the two APIs apart any better.
        with _jobs_run(spark_session) as counted:
            linker.training.estimate_u_using_random_sampling(max_pairs=300, seed=1, num_chunks=1)
        jobs = counted[0]
        model = linker.misc.save_model_to_json()
        sampled[type(api).__name__] = (
            jobs,
            [
                level.get("u_probability")
                for comparison in model["comparisons"]
                for level in comparison["comparison_levels"]
            ],
        )
    assert sampled["BrazeSparkAPI"][1] == sampled["SparkAPIOnTheSharedHash"][1]
    assert sampled["BrazeSparkAPI"][0] < sampled["SparkAPIOnTheSharedHash"][0]


@pytest.mark.integration
def test_components_on_the_driver_and_in_sql_agree_with_duckdb(spark_session, tmp_path):
    """Spark settles a small graph on the driver (union-find) and a large one by propagating
    labels in SQL: both label every component by its smallest node, as DuckDB does."""
    import random

    import duckdb

    from braze_assets.engine.duckdb_engine import DuckDBEngine

    rng = random.Random(3)
    nodes = list(range(0, 300, 3))
    edges = [(rng.choice(nodes), rng.choice(nodes)) for _ in range(120)]
    graph = {
        "_nodes": pa.table({"node": pa.array(nodes, pa.int64())}),
        "_edges": pa.table(
            {"l": pa.array([e[0] for e in edges]), "r": pa.array([e[1] for e in edges])}
        ),
    }
    labels = {}
    with duckdb.connect() as con:
        spark = SparkEngine(spark_session, str(tmp_path / "t"))
        for engine, limit in ((DuckDBEngine(con), None), (spark, 1000), (spark, 50)):
            if limit is not None:
                engine.driver_graph_limit = limit
            for table, rows in graph.items():
                engine.register(table, rows)
            engine.components("_c", "SELECT node FROM _nodes", "SELECT l, r FROM _edges")
            labels[(engine.name, limit)] = dict(engine.fetch("SELECT node, component FROM _c"))
    assert labels[("spark", 1000)] == labels[("duckdb", None)] == labels[("spark", 50)]
    assert len(set(labels[("duckdb", None)].values())) < len(nodes)


def test_a_new_engine_attaches_only_tables_written_since(spark_session, tmp_path):
    """Each Dagster asset builds an engine on the process's session; attaching a table reads its
    schema (a Spark job), so a table already attached and unchanged is not read again, and one
    rewritten elsewhere or whose view was dropped is."""
    location = str(tmp_path / "tables")
    first = SparkEngine(spark_session, location)
    first.write_arrow("kept", pa.table({"x": [1, 2]}))
    first.write_arrow("changed", pa.table({"x": [1]}))
    tracker = spark_session.sparkContext.statusTracker()

    def last_job() -> int:
        return max(tracker.getJobIdsForGroup(), default=-1)

    before = last_job()
    SparkEngine(spark_session, location)
    assert last_job() == before
    # Another process rewrites a table in place (no engine of this process sees the write).
    frame = spark_session.createDataFrame(pa.table({"x": [5, 6, 7]}))
    frame.write.mode("overwrite").parquet(first.table_path("changed"))
    spark_session.catalog.dropTempView("kept")
    again = SparkEngine(spark_session, location)
    assert again.fetch("SELECT count(*) FROM changed")[0][0] == 3
    assert again.fetch("SELECT count(*) FROM kept")[0][0] == 2


@pytest.mark.integration
def test_splink_samples_the_same_records_on_both_engines(spark_session):
    """u sampling, EM's pair cap and prediction's chunks pick records by Splink's record hash:
    DuckDB mode keeps Splink's own (DuckDB's hash()), and Spark mode calls that same hash through
    an Arrow UDF, so every id gets the same bucket and both train on the same sample. Splink's own
    Spark dialect (Murmur3) disagrees on nearly every id."""
    from splink.internals.chunking import _chunk_assignment_sql
    from splink.internals.dialects import DuckDBDialect, SparkDialect
    from splink.internals.input_column import InputColumn

    from braze_assets.engine.duckdb_engine import DuckDBEngine

    # Past one Arrow batch (10,000 rows), with text DuckDB and Spark could read differently.
    ids = [f"ecommerce:{i}" for i in range(12_000)] + ["", "pos:ÄÖü 7", "a'b", "x" * 300]
    frame = pa.table({"unique_id": ids})
    spark = SparkEngine(spark_session, "/tmp/unused")
    with duckdb.connect() as con:
        duck = DuckDBEngine(con)
        duck.register("_ids", frame)
        spark.register("_ids", frame)
        duck_api, spark_api = duck.splink_api(), spark.splink_api()
        assert type(duck_api.sql_dialect) is DuckDBDialect  # DuckDB mode: Splink's own

        def buckets(engine, dialect, modulus=1000):
            expression = dialect.hash_bucket_expression("unique_id || '_42'", modulus)
            return {k: int(v) for k, v in engine.fetch(f"SELECT unique_id, {expression} FROM _ids")}

        ours = buckets(duck, duck_api.sql_dialect)
        assert ours == buckets(spark, spark_api.sql_dialect)
        assert len(set(ours.values())) > 900  # spread over the buckets, not constant
        # Splink's modulus for its proportion samples is 10^9: still the unsigned 64-bit hash's.
        assert buckets(duck, duck_api.sql_dialect, 10**9) == buckets(
            spark, spark_api.sql_dialect, 10**9
        )
        murmur = buckets(spark, SparkDialect())
        assert sum(ours[i] == murmur[i] for i in ids) < 50

        # The u-sampling filter Splink builds from the dialect keeps the same records.
        column = [InputColumn("unique_id", sqlglot_dialect_str="duckdb")]

        def sample(engine, dialect):
            condition = dialect.proportion_sample_sql(0.1, column, seed=42).replace("l.", "")
            return {r[0] for r in engine.fetch(f"SELECT unique_id FROM _ids WHERE 1=1 {condition}")}

        kept = sample(duck, duck_api.sql_dialect)
        assert kept == sample(spark, spark_api.sql_dialect) and 1000 < len(kept) < 1400

        # Prediction's chunks (ABS(hash) % n) hold the same records.
        def chunk(engine, dialect):
            condition = _chunk_assignment_sql(column, 2, 3, "", dialect)
            return {r[0] for r in engine.fetch(f"SELECT unique_id FROM _ids WHERE 1=1 {condition}")}

        second = chunk(duck, duck_api.sql_dialect)
        assert second == chunk(spark, spark_api.sql_dialect) and 3500 < len(second) < 4500


@pytest.mark.integration
def test_splink_string_functions_give_duckdbs_values(spark_session):
    """Splink's comparison levels on Spark compute what they compute on DuckDB: edit distances
    over UTF-8 bytes (DuckDB's levenshtein('ä', 'a') is 2, Spark's 1) and DuckDB's own
    Jaro-Winkler (Splink's jar scores 1.2% of random demo name pairs otherwise)."""
    import random

    from splink.internals.dialects import DuckDBDialect, SparkDialect

    from braze_assets.engine.duckdb_engine import DuckDBEngine
    from braze_assets.engine.spark_engine import to_splink_spark_sql

    rng = random.Random(5)
    letters = "abcdeäöüßé"

    def word() -> str:
        return "".join(rng.choice(letters) for _ in range(rng.randint(1, 8)))

    def typo(text: str) -> str:
        chars = list(text)
        for _ in range(rng.randint(0, 3)):
            i = rng.randrange(len(chars))
            if rng.random() < 0.5 and i + 1 < len(chars):
                chars[i], chars[i + 1] = chars[i + 1], chars[i]
            else:
                chars[i] = rng.choice(letters)
        return "".join(chars)

    left = [word() for _ in range(3000)]
    frame = pa.table({"a_l": left, "a_r": [typo(w) for w in left]})
    spark = SparkEngine(spark_session, "/tmp/unused")
    with duckdb.connect() as con:
        duck = DuckDBEngine(con)
        duck.register("_pairs", frame)
        spark.register("_pairs", frame)
        spark_dialect = spark.splink_api().sql_dialect

        def values(engine, dialect) -> list[tuple]:
            functions = [
                dialect.levenshtein_function_name,
                dialect.damerau_levenshtein_function_name,
                dialect.jaro_winkler_function_name,
                dialect.jaro_function_name,
            ]
            calls = ", ".join(f"{f}(a_l, a_r)" for f in functions)
            return engine.fetch(f"SELECT a_l, a_r, {calls} FROM _pairs ORDER BY a_l, a_r")

        ours = values(duck, DuckDBDialect())
        assert ours == values(spark, spark_dialect)
        splinks_own = values(spark, SparkDialect())
        for column in range(2, 6):  # each of Splink's own Spark functions differs somewhere
            assert any(a[column] != b[column] for a, b in zip(ours, splinks_own))

        # The identity's custom levels, written for DuckDB, transpiled for Spark.
        level = (
            "jaro_winkler_similarity(a_l, a_r) >= 0.85 AND damerau_levenshtein(a_l, a_r) <= 2 "
            "OR levenshtein(a_l, a_r) <= 1"
        )
        query = "SELECT a_l, a_r FROM _pairs WHERE {} ORDER BY a_l, a_r"
        kept = duck.fetch(query.format(level))
        assert kept == spark.fetch(query.format(to_splink_spark_sql(level)))
        assert 300 < len(kept) < 2900
