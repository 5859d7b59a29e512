"""The project is a `dg` project: `dg check defs` and `dg list defs` work from the project root."""

import json

from braze_assets_tests.conftest import run_dg


def dg(*args: str):
    return run_dg(*args, timeout=300)


def test_dg_check_defs_loads_every_domain():
    out = dg("check", "defs")
    assert out.returncode == 0, out.stderr[-3000:]
    assert "All definitions loaded successfully" in out.stdout + out.stderr


def test_dg_list_defs_shows_the_whole_lineage_graph():
    out = dg("list", "defs", "--json")
    assert out.returncode == 0, out.stderr[-3000:]
    listed = json.loads(out.stdout)
    keys = {asset["asset_key"] for asset in listed["assets"]}
    for expected in ("customer_360", "braze_customer_attributes", "currents_events"):
        assert expected in keys, sorted(keys)
    jobs = {job["name"] for job in listed["jobs"]}
    assert {"customer_360_refresh", "currents_ingest"} <= jobs


def test_dg_launch_materialises_an_asset_into_the_warehouse_and_the_instance(tmp_path):
    import duckdb

    from braze_assets_tests.conftest import cli_env, run_cli

    data_dir = tmp_path / "data"
    data_dir.mkdir()
    env = cli_env(data_dir)
    (data_dir / "dagster_home").mkdir()
    generated = run_cli("generate", "--people", "200", env=env)
    assert generated.returncode == 0, generated.stderr[-2000:]

    out = run_dg("launch", "--assets", "raw_ecommerce", env=env)
    assert out.returncode == 0, out.stderr[-3000:]
    with duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM raw_ecommerce").fetchone()[0] > 0
    import dagster as dg

    with dg.DagsterInstance.from_config(str(data_dir / "dagster_home")) as instance:
        assert instance.get_latest_materialization_event(dg.AssetKey("raw_ecommerce")) is not None
