"""Fixtures shared across domains: a demo materialised once per test session in a temp data dir."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from braze_assets.sandbox import SandboxServer
from braze_assets.settings import PROJECT_DIR

DEMO_PEOPLE = 1_500


@dataclass(frozen=True)
class DemoRun:
    data_dir: Path
    dagster_home: Path
    env: dict[str, str]
    output: str


def cli_env(data_dir: Path, **extra: str) -> dict[str, str]:
    """The environment a user would have: no Braze or S3 settings unless a test gives them."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("BRAZE_", "CURRENTS_", "AWS_", "DAGSTER_HOME"))
    }
    env.update(
        {"BRAZE_ASSETS_DATA_DIR": str(data_dir), "DAGSTER_HOME": str(data_dir / "dagster_home")}
    )
    env.update(extra)
    return env


BIN = Path(sys.executable).parent  # the environment's scripts: dg, dagster, dagster-daemon


def run_command(
    args: list[str],
    *,
    env: dict[str, str] | None = None,
    cwd: Path = PROJECT_DIR,
    timeout: float = 600,
) -> subprocess.CompletedProcess:
    """A command run to its end from the project root (unless `cwd`), its output captured as text;
    the caller checks the exit code. Without `env` it inherits the tests' environment."""
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def run_cli(*args: str, env: dict[str, str], timeout: float = 600) -> subprocess.CompletedProcess:
    return run_command([sys.executable, "-m", "braze_assets.cli", *args], env=env, timeout=timeout)


def run_dg(
    *args: str, env: dict[str, str] | None = None, timeout: float = 600
) -> subprocess.CompletedProcess:
    return run_command([str(BIN / "dg"), *args], env=env, timeout=timeout)


def run_python(
    code: str, *, env: dict[str, str], cwd: Path = PROJECT_DIR, timeout: float = 300
) -> subprocess.CompletedProcess:
    return run_command([sys.executable, "-c", code], env=env, cwd=cwd, timeout=timeout)


def start_cli(*args: str, env: dict[str, str], **popen: object) -> subprocess.Popen:
    """The CLI in the background, unbuffered, output merged, in its own session so a test can kill
    its whole process group; `popen` overrides any of these."""
    options: dict = {
        "cwd": PROJECT_DIR,
        "env": env,
        "stdout": subprocess.PIPE,
        "stderr": subprocess.STDOUT,
        "text": True,
        "start_new_session": True,
    }
    options.update(popen)
    return subprocess.Popen([sys.executable, "-u", "-m", "braze_assets.cli", *args], **options)


@pytest.fixture
def sandbox(tmp_path):
    """The HTTP Braze sandbox without a rate limit, its state under the test's directory, stopped
    after the test (the braze and sandbox tests have their own, with two keys)."""
    server = SandboxServer(tmp_path / "sandbox", rate_limit_requests=None).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory) -> DemoRun:
    data_dir = tmp_path_factory.mktemp("demo") / "data"
    data_dir.mkdir()
    env = cli_env(data_dir)
    result = run_cli("demo", "--people", str(DEMO_PEOPLE), env=env)
    assert result.returncode == 0, f"demo failed:\n{result.stdout}\n{result.stderr}"
    return DemoRun(data_dir, data_dir / "dagster_home", env, result.stdout)


# Session fixtures that build something expensive (a whole demo, a Spark session, the UI's pointed
# demo): the tests using one run on one worker (pytest-xdist's loadgroup), so it is built once.
# The rule follows the fixtures a test asks for, so a new test using one joins its group by itself.
SHARED_FIXTURE_GROUPS = {
    "demo_run": "demo",
    "spark_session": "spark",
    # Spark mode's whole demo, run by the CLI in a subprocess (test_demo_parity.py).
    "spark_demo": "spark",
    "pointed_demo": "ui",
    "dagster_ui": "ui",
}
# A test that needs Spark runs in the spark group whatever else it needs (and builds the other
# fixture there too): a combined group such as "demo+spark" would start one more JVM for a few
# tests. No module names a group of its own on top (xdist would join the names into another
# group, on any worker, with a JVM of its own): the default run starts one JVM.
EXCLUSIVE_GROUP = "spark"


def shared_group(fixturenames) -> str | None:
    """The xdist group of a test asking for these fixtures; None when it needs no shared one."""
    groups = {g for f, g in SHARED_FIXTURE_GROUPS.items() if f in fixturenames}
    if EXCLUSIVE_GROUP in groups:
        return EXCLUSIVE_GROUP
    return "+".join(sorted(groups)) or None


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    for item in items:
        group = shared_group(item.fixturenames)
        if group:
            item.add_marker(pytest.mark.xdist_group(group))
