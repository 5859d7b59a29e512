"""Bad input ends in one readable line and a non-zero exit, never a traceback wall."""

import shutil
import subprocess
import sys
from pathlib import Path

from braze_assets.settings import DEMO_CONFIG_DIR, PROJECT_DIR
from braze_assets_tests.braze.test_client_untrusted_answers import answering
from braze_assets_tests.conftest import cli_env, run_cli


def _assert_clean_failure(result: subprocess.CompletedProcess, *needles: str) -> None:
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    # One line says why (progress lines and notes may precede it).
    errors = [line for line in result.stderr.splitlines() if line.startswith("braze-assets:")]
    assert len(errors) == 1, result.stderr
    for needle in needles:
        assert needle in errors[0], result.stderr


def test_missing_data_dir(tmp_path: Path):
    result = run_cli("status", env=cli_env(tmp_path / "absent" / "data"))
    _assert_clean_failure(result, "data dir", "does not exist")


def test_malformed_yaml(tmp_path: Path):
    config = tmp_path / "config"
    shutil.copytree(DEMO_CONFIG_DIR, config)
    (config / "sources.yaml").write_text("sources:\n  - name: [oops\n")
    result = run_cli("demo", env=cli_env(tmp_path, BRAZE_ASSETS_CONFIG_DIR=str(config)))
    _assert_clean_failure(result, "sources.yaml", "malformed YAML")


def test_unknown_column_in_mapping(tmp_path: Path):
    config = tmp_path / "config"
    shutil.copytree(DEMO_CONFIG_DIR, config)
    text = (config / "destinations.yaml").read_text()
    assert "column: given_name" in text
    (config / "destinations.yaml").write_text(
        text.replace("column: given_name", "column: given_nam", 1)
    )
    result = run_cli("demo", env=cli_env(tmp_path, BRAZE_ASSETS_CONFIG_DIR=str(config)))
    _assert_clean_failure(result, "destinations.yaml", "given_nam")


def test_unreachable_braze_endpoint(tmp_path: Path):
    env = cli_env(
        tmp_path, BRAZE_REST_ENDPOINT="http://127.0.0.1:9", BRAZE_API_KEY="k-unreachable-test"
    )
    result = run_cli("demo", "--people", "300", env=env)
    _assert_clean_failure(result, "http://127.0.0.1:9")
    assert "k-unreachable-test" not in result.stderr + result.stdout


def test_endpoint_answering_html_200_delivers_nothing_and_fails(tmp_path: Path):
    """A proxy or captive portal answering every request 200 with HTML: nothing counts as
    delivered, and the demo ends non-zero with one line naming the status and content type."""
    html = b"<html><body>Sign in to continue</body></html>"
    with answering(200, html, "text/html; charset=utf-8") as (url, hits):
        env = cli_env(tmp_path, BRAZE_REST_ENDPOINT=url, BRAZE_API_KEY="k-html-proxy-test")
        result = run_cli("demo", "--people", "300", env=env)
    assert hits, "the demo never reached the sync"
    _assert_clean_failure(result, "delivered nothing", "HTTP 200 (text/html; charset=utf-8)")
    assert "k-html-proxy-test" not in result.stderr + result.stdout


def test_junk_warehouse_memory_limit(tmp_path: Path):
    result = run_cli(
        "demo", "--people", "300", env=cli_env(tmp_path, BRAZE_ASSETS_WAREHOUSE_MEMORY_LIMIT="lots")
    )
    _assert_clean_failure(result, "BRAZE_ASSETS_WAREHOUSE_MEMORY_LIMIT='lots'", "2GB")
    assert not (tmp_path / "sources").exists()  # refused before the demo data is generated


def test_definitions_validate_with_and_without_env(tmp_path: Path):
    dagster = Path(sys.executable).with_name("dagster")
    (tmp_path / "dagster_home").mkdir()
    for extra in ({}, {"BRAZE_API_KEY": "x", "BRAZE_INSTANCE": "US-03", "CURRENTS_S3_BUCKET": "b"}):
        result = subprocess.run(
            [str(dagster), "definitions", "validate", "-w", "workspace.yaml"],
            cwd=PROJECT_DIR,
            env=cli_env(tmp_path, **extra),
            capture_output=True,
            text=True,
            timeout=180,
        )
        assert result.returncode == 0, result.stdout + result.stderr
