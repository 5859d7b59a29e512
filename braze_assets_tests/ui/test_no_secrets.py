"""A run against "real" Braze and S3 leaves no trace of their secrets: not in the Dagster event log,
run records, compute logs, the warehouse, or what the CLI printed."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import duckdb
import pytest
from dagster._serdes import serialize_value

pytestmark = pytest.mark.integration


def _fragments(secret: str) -> list[str]:
    """The secret and its halves, so a truncated or split leak is caught too."""
    tail = secret.split("-", 1)[1]
    return [secret, tail[: len(tail) // 2], tail[len(tail) // 2 :]]


def _leaks(text: str, secrets: tuple[str, ...]) -> list[str]:
    return [fragment for secret in secrets for fragment in _fragments(secret) if fragment in text]


def test_the_run_used_the_configured_endpoint_and_key(pointed_demo):
    # The sandbox accepts only the distinctive key, so accepted /users/track calls prove it was used.
    tracked = [r for r in pointed_demo.sandbox.request_log() if r["path"] == "/users/track"]
    assert tracked, "the demo sent nothing to the Braze endpoint it was given"
    assert all(r["status"] != 401 for r in tracked), (
        "the Braze endpoint rejected the configured key"
    )
    assert any(200 <= r["status"] < 300 for r in tracked), (
        "Braze accepted none of the sync's requests"
    )


def test_event_log_and_run_records_hold_no_secret(pointed_demo):
    instance = dg.DagsterInstance.from_config(str(pointed_demo.dagster_home))
    try:
        runs = instance.get_runs()
        assert runs, "the demo left no runs in the instance"
        events = 0
        for run in runs:
            assert not _leaks(serialize_value(run), pointed_demo.secrets), (
                f"run {run.run_id} record holds a secret"
            )
            for event in instance.all_logs(run.run_id):
                events += 1
                text = serialize_value(event)
                assert not _leaks(text, pointed_demo.secrets), (
                    f"an event of run {run.run_id} holds a secret: {text[:500]}"
                )
        assert events > len(runs)
    finally:
        instance.dispose()


def _files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()]


def test_no_file_under_dagster_home_or_the_data_dir_holds_a_secret(pointed_demo):
    files = _files(pointed_demo.data_dir)
    compute_logs = [p for p in files if p.suffix in (".out", ".err")]
    assert compute_logs, "no compute logs were captured, so there is nothing to check"
    for path in files:
        text = path.read_bytes().decode("utf-8", errors="replace")
        leaks = _leaks(text, pointed_demo.secrets)
        assert not leaks, f"{path} holds a secret"


def test_warehouse_tables_hold_no_secret(pointed_demo):
    # Fragments are [a-z0-9-], so they are safe to join into one pattern.
    pattern = "|".join(f for secret in pointed_demo.secrets for f in _fragments(secret))
    with duckdb.connect(str(pointed_demo.data_dir / "warehouse.duckdb"), read_only=True) as con:
        # Only text can hold a key; lists and structs of text included (their type names say VARCHAR).
        text_columns = con.execute(
            "SELECT table_name, list(column_name) FROM duckdb_columns() WHERE schema_name = 'main' "
            "AND (data_type LIKE '%VARCHAR%' OR data_type LIKE '%JSON%') GROUP BY table_name"
        ).fetchall()
        assert text_columns
        for table, columns in text_columns:
            row_text = (
                "concat_ws(chr(31), " + ", ".join(f'CAST("{c}" AS VARCHAR)' for c in columns) + ")"
            )
            hits = con.execute(
                f'SELECT count(*) FROM "{table}" WHERE regexp_matches({row_text}, ?)', [pattern]
            ).fetchone()[0]
            assert hits == 0, f"{hits} rows of {table} hold a secret"


def test_cli_output_holds_no_secret(pointed_demo):
    assert not _leaks(pointed_demo.output, pointed_demo.secrets)
