"""Files the user cannot fix from a DuckDB dump: each ends in one line naming the file and what
to do, exit 2 and no traceback, through `braze-assets demo` and `braze-assets status`."""

from __future__ import annotations

import shutil
import struct

import dagster as dg
import duckdb
import pytest

from braze_assets.defs.resources import WarehouseResource
from braze_assets.warehouse import WarehouseFileError, create_if_missing
from braze_assets_tests.conftest import cli_env, run_cli, run_dg

pytestmark = pytest.mark.integration

_MULTIPLIER = 0xBF58476D1CE4E5B9
_MASK = (1 << 64) - 1


def _duckdb_checksum(block: bytes) -> int:
    """DuckDB's block checksum (src/common/checksum.cpp) over 8-byte words."""
    result = 5381
    for (word,) in struct.iter_unpack("<Q", block):
        result ^= (word * _MULTIPLIER) & _MASK
    return result


def _from_a_newer_duckdb(path) -> None:
    """A warehouse whose main header says a storage version this DuckDB does not know, with a
    valid checksum: what a file written by a future DuckDB looks like to this one."""
    create_if_missing(path)
    with open(path, "r+b") as handle:
        header = bytearray(handle.read(4096))
        assert header[8:12] == b"DUCK"
        header[12:20] = struct.pack("<Q", 99)
        header[0:8] = struct.pack("<Q", _duckdb_checksum(bytes(header[8:4096])))
        handle.seek(0)
        handle.write(header)
    with pytest.raises(duckdb.IOException, match="(?s)version number 99,.*newer version of DuckDB"):
        duckdb.connect(str(path), read_only=True)


def _one_clean_line(result) -> str:
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    # Besides the note that the embedded demo config is used, the error is one line.
    lines = [
        line for line in result.stderr.strip().splitlines() if "BRAZE_ASSETS_CONFIG_DIR" not in line
    ]
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_a_warehouse_from_a_newer_duckdb_is_one_clear_message(tmp_path):
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    warehouse = data_dir / "warehouse.duckdb"
    _from_a_newer_duckdb(warehouse)
    env = cli_env(data_dir)
    for command in ("demo", "status"):
        line = _one_clean_line(run_cli(command, env=env, timeout=300))
        assert f"warehouse {warehouse} was written by a newer DuckDB" in line, line
        assert f"DuckDB {duckdb.__version__}" in line and "storage version 99" in line
        assert "move the file aside" in line
    assert not (data_dir / "sources").exists()  # stopped before generating anything


def test_an_invalid_utf8_byte_in_a_source_names_the_file_line_and_column(tmp_path, demo_run):
    data_dir = tmp_path / "data"
    shutil.copytree(demo_run.data_dir, data_dir)
    csv = data_dir / "sources" / "pos_customers.csv"
    lines = csv.read_bytes().split(b"\n")
    header = lines[0].decode().split(",")
    # Line 120 of the file (data row 119): a Latin-1 byte in full_name.
    fields = lines[119].split(b",")
    fields[header.index("full_name")] += b"\xe9"
    lines[119] = b",".join(fields)
    csv.write_bytes(b"\n".join(lines))

    line = _one_clean_line(run_cli("demo", env=cli_env(data_dir), timeout=300))
    assert f"{csv} is not valid UTF-8: line 120 (data row 119), column full_name: byte 0xe9" in line
    assert "iconv" in line


def test_a_run_on_a_newer_duckdbs_warehouse_fails_at_once_with_the_clear_message(tmp_path):
    """Every run (UI, daemon, `dg launch`) opens the warehouse through the warehouse resource: its
    step fails with the one line, without retrying the open for minutes."""
    warehouse = tmp_path / "warehouse.duckdb"
    _from_a_newer_duckdb(warehouse)
    opened = []

    @dg.asset
    def touches_the_warehouse(duckdb: dg.ResourceParam[WarehouseResource]) -> None:
        with duckdb.get_connection():
            opened.append(True)

    original = WarehouseResource._open
    attempts = []

    def counted(self):
        attempts.append(1)
        return original(self)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(WarehouseResource, "_open", counted)
        with pytest.raises(WarehouseFileError) as info:
            dg.materialize(
                [touches_the_warehouse],
                resources={"duckdb": WarehouseResource(database=str(warehouse))},
            )
    assert str(info.value).startswith(f"warehouse {warehouse} was written by a newer DuckDB")
    assert "\n" not in str(info.value)
    assert attempts == [1] and not opened


@pytest.mark.slow
def test_a_warehouse_from_a_newer_duckdb_fails_a_launched_run_with_the_clear_message(tmp_path):
    """The UI and `dg launch` path: the run fails, and its failure (what the UI shows) is the one
    line, not DuckDB's dump."""

    import dagster as dg

    data_dir = tmp_path / "data"
    (data_dir / "dagster_home").mkdir(parents=True)
    env = cli_env(data_dir)
    assert run_cli("generate", "--people", "60", env=env).returncode == 0
    warehouse = data_dir / "warehouse.duckdb"
    _from_a_newer_duckdb(warehouse)
    out = run_dg("launch", "--assets", "raw_ecommerce", env=env)
    assert out.returncode != 0, out.stdout + out.stderr
    expected = f"warehouse {warehouse} was written by a newer DuckDB"
    assert expected in out.stdout + out.stderr, out.stderr[-3000:]
    with dg.DagsterInstance.from_config(str(data_dir / "dagster_home")) as instance:
        (run,) = instance.get_runs()
        assert run.status == dg.DagsterRunStatus.FAILURE
        failures = [
            event.dagster_event.step_failure_data.error
            for event in instance.all_logs(run.run_id)
            if event.dagster_event is not None and event.dagster_event.is_step_failure
        ]
    assert failures, "the run failed without a step failure"
    error = failures[0]
    while error.cause is not None and expected not in error.message:
        error = error.cause
    assert expected in error.message, error.to_string()
    assert "WarehouseFileError" in error.cls_name
