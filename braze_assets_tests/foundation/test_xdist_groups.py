"""The xdist group a test runs in follows the shared fixtures it asks for; Spark stays on one
worker, so a test run starts one JVM."""

from braze_assets_tests.conftest import shared_group


def test_a_test_needing_spark_runs_in_the_spark_group_whatever_else_it_needs():
    assert shared_group({"spark_session", "tmp_path"}) == "spark"
    # test_demo_parity: DuckDB mode's demo beside Spark mode's (a CLI subprocess).
    assert shared_group({"demos", "demo_run", "spark_demo"}) == "spark"
    assert shared_group({"spark_demo"}) == "spark"


def test_other_shared_fixtures_keep_their_groups():
    assert shared_group({"demo_run"}) == "demo"
    assert shared_group({"pointed_demo", "dagster_ui"}) == "ui"
    assert shared_group({"demo_run", "dagster_ui"}) == "demo+ui"
    assert shared_group({"tmp_path"}) is None
