"""The engine section, its env override, and Spark mode's startup checks through `braze-assets demo`."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from pathlib import Path

import pytest

from braze_assets.config import ConfigError, load_config
from braze_assets.engine import EngineConfig, EngineStartupError, check_spark, effective_engine
from braze_assets.engine.config import ENV_ENGINE, SparkConfig
from braze_assets.settings import DEMO_CONFIG_DIR
from braze_assets_tests.conftest import cli_env, run_cli


def _config_dir(tmp_path: Path, engine_yaml: str) -> Path:
    config_dir = tmp_path / "config"
    shutil.copytree(DEMO_CONFIG_DIR, config_dir)
    (config_dir / "engine.yaml").write_text(engine_yaml)
    return config_dir


def test_default_is_duckdb_and_demo_config_has_no_engine_section():
    config = load_config(DEMO_CONFIG_DIR)
    assert config.engine.name == "duckdb"
    assert config.engine.spark.master == "local[*]"


def test_engine_section_full_and_shorthand(tmp_path):
    full = load_config(
        _config_dir(
            tmp_path,
            "engine:\n  name: spark\n  spark:\n    master: spark://h:7077\n"
            "    table_location: s3a://bucket/tables/\n    conf:\n      spark.executor.cores: 4\n",
        )
    )
    assert full.engine.name == "spark"
    assert full.engine.spark.master == "spark://h:7077"
    assert full.engine.spark.location() == "s3a://bucket/tables"
    assert full.engine.spark.conf == {"spark.executor.cores": "4"}
    short = EngineConfig.model_validate("spark")
    assert short.name == "spark" and short.spark.master == "local[*]"


def test_splink_on_spark_defaults_to_parquet_and_takes_its_settings(tmp_path):
    default = load_config(_config_dir(tmp_path / "a", "engine: spark\n")).engine.spark.splink
    assert default.break_lineage == "parquet" and default.num_partitions_on_repartition is None
    assert default.repartition_after_blocking is False
    given = load_config(
        _config_dir(
            tmp_path / "b",
            "engine:\n  spark:\n    splink:\n      break_lineage: local_checkpoint\n"
            "      num_partitions_on_repartition: 8\n      repartition_after_blocking: true\n",
        )
    ).engine.spark.splink
    assert (given.break_lineage, given.num_partitions_on_repartition) == ("local_checkpoint", 8)
    assert given.repartition_after_blocking is True
    with pytest.raises(ConfigError) as bad:
        load_config(
            _config_dir(
                tmp_path / "c", "engine:\n  spark:\n    splink:\n      break_lineage: disk\n"
            )
        )
    assert "[engine.spark.splink.break_lineage]" in str(bad.value)


def test_unknown_engine_and_key_name_file_and_entry(tmp_path):
    with pytest.raises(ConfigError) as bad_name:
        load_config(_config_dir(tmp_path / "a", "engine:\n  name: postgres\n"))
    assert "engine.yaml" in str(bad_name.value) and "[engine.name]" in str(bad_name.value)
    with pytest.raises(ConfigError) as bad_key:
        load_config(_config_dir(tmp_path / "b", "engine:\n  spark:\n    mastr: local\n"))
    assert "[engine.spark.mastr]" in str(bad_key.value) and "unknown key" in str(bad_key.value)


def test_env_overrides_the_section(monkeypatch):
    monkeypatch.setenv(ENV_ENGINE, "Spark")
    assert effective_engine(EngineConfig()).name == "spark"
    monkeypatch.setenv(ENV_ENGINE, "duckdb")
    assert effective_engine(EngineConfig(name="spark")).name == "duckdb"
    monkeypatch.setenv(ENV_ENGINE, "sparky")
    with pytest.raises(ConfigError, match="BRAZE_ASSETS_ENGINE='sparky'.*duckdb, spark"):
        effective_engine(EngineConfig())


def test_local_master_with_java_and_writable_location_passes(tmp_path):
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        pytest.skip("no Java on this machine (.ci/run installs it)")
    check_spark(SparkConfig(table_location=str(tmp_path / "tables")))
    assert (tmp_path / "tables").is_dir()


# The doors: `braze-assets demo` in Spark mode stops before generating anything, with one line.


def _spark_demo(tmp_path: Path, env_extra: dict[str, str], engine_yaml: str):
    data_dir = tmp_path / "data"
    env = cli_env(
        data_dir,
        BRAZE_ASSETS_CONFIG_DIR=str(_config_dir(tmp_path, engine_yaml)),
        **{ENV_ENGINE: "spark"},
        **env_extra,
    )
    result = run_cli("demo", "--people", "50", env=env, timeout=300)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    return result, lines, data_dir


def test_demo_without_java_stops_at_startup(tmp_path):
    no_java = tmp_path / "bin"
    no_java.mkdir()
    env = {"PATH": str(no_java)}
    result, lines, data_dir = _spark_demo(tmp_path, env, "engine: duckdb\n")
    assert result.returncode == 2, result.stdout + result.stderr
    assert len(lines) == 1, lines
    assert "needs Java 17" in lines[0] and "no `java` on PATH" in lines[0]
    assert "openjdk-17-jre-headless" in lines[0]
    assert not (data_dir / "demo.lock").exists()


@pytest.fixture(autouse=True)
def _no_java_home(monkeypatch):
    monkeypatch.delenv("JAVA_HOME", raising=False)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_demo_with_unreachable_master_stops_at_startup(tmp_path):
    port = _closed_port()
    result, lines, _ = _spark_demo(
        tmp_path,
        {},
        f"engine:\n  name: duckdb\n  spark:\n    master: spark://127.0.0.1:{port}\n"
        f"    table_location: {tmp_path / 'tables'}\n",
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert len(lines) == 1, lines
    assert f"master 'spark://127.0.0.1:{port}' is not reachable" in lines[0]
    assert f"127.0.0.1:{port}" in lines[0]


@pytest.fixture
def read_only_dir(tmp_path):
    """A directory this process cannot write: a read-only tmpfs mount as root (root ignores
    permission bits), mode 0555 otherwise."""
    path = tmp_path / "tables"
    path.mkdir()
    if os.geteuid() != 0:
        path.chmod(0o555)
        yield path
        path.chmod(0o755)
        return
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(path)], capture_output=True
    )
    assert mounted.returncode == 0, mounted.stderr
    try:
        yield path
    finally:
        subprocess.run(["umount", str(path)], check=True)


def test_demo_with_read_only_table_location_stops_at_startup(tmp_path, read_only_dir):
    result, lines, _ = _spark_demo(
        tmp_path, {}, f"engine:\n  spark:\n    table_location: {read_only_dir}\n"
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert len(lines) == 1, lines
    assert f"cannot write its table location {read_only_dir}" in lines[0]
    assert "Read-only file system" in lines[0] or "Permission denied" in lines[0]


def test_startup_error_is_one_line_for_unknown_master():
    with pytest.raises(EngineStartupError, match="not one of local"):
        check_spark(SparkConfig(master="mesos://h:5050", table_location="/tmp"))


def test_spark_mode_caps_the_drivers_duckdb_and_the_environment_overrides_it(tmp_path, monkeypatch):
    """Spark mode's driver keeps a DuckDB warehouse; uncapped it caches what it writes up to 80%
    of RAM and the driver grows with the data (benchmarks/README.md, rounds 6 and 7)."""
    from braze_assets import settings
    from braze_assets.defs.resources import WarehouseResource

    monkeypatch.delenv(settings.ENV_WAREHOUSE_MEMORY_LIMIT, raising=False)
    config = load_config(_config_dir(tmp_path, "engine: spark\n")).engine.spark
    assert config.warehouse_memory_limit == "256MB"

    def limit(resource: WarehouseResource) -> str:
        with resource.get_connection() as con:
            return con.execute("SELECT current_setting('memory_limit')").fetchone()[0]

    capped = WarehouseResource(database=str(tmp_path / "w.duckdb"), memory_limit="1GB")
    assert limit(capped) == "953.6 MiB"
    uncapped = WarehouseResource(database=str(tmp_path / "u.duckdb"))
    assert limit(uncapped) != "953.6 MiB"
    monkeypatch.setenv(settings.ENV_WAREHOUSE_MEMORY_LIMIT, "2GB")
    assert limit(capped) == "1.8 GiB"


def test_spark_mode_wires_the_cap_into_the_code_locations_warehouse(monkeypatch):
    from braze_assets.defs.engine import warehouse_memory_limit

    monkeypatch.setenv(ENV_ENGINE, "spark")
    assert warehouse_memory_limit() == "256MB"
    monkeypatch.setenv(ENV_ENGINE, "duckdb")
    assert warehouse_memory_limit() is None


def test_bad_warehouse_memory_limit_names_the_entry(tmp_path):
    with pytest.raises(ConfigError) as bad:
        load_config(_config_dir(tmp_path, "engine:\n  spark:\n    warehouse_memory_limit: lots\n"))
    message = str(bad.value)
    assert "[engine.spark.warehouse_memory_limit]" in message and "'lots'" in message
    assert "engine.yaml" in message
