"""The suite's worker groups hold: tests sharing an expensive session fixture (a whole demo, the
Spark session, the UI's demo) run on one pytest-xdist worker, so each is built once.

pytest 9.2 moved a node's id where pytest-xdist 3.8's loadgroup no longer writes its group, and
the groups were then ignored without a word: both workers built their own demo and Spark JVM. This
runs the project's grouping hook under xdist on a small suite of its own and reads which worker
ran what."""

from __future__ import annotations

import re
import sys
from collections import defaultdict
from pathlib import Path

from braze_assets_tests.conftest import PROJECT_DIR, SHARED_FIXTURE_GROUPS, run_command

CONFTEST = """
import os

import pytest

from braze_assets_tests.conftest import pytest_collection_modifyitems  # noqa: F401

LOG = os.path.join(os.path.dirname(__file__), "ran.txt")


def record(group):
    with open(LOG, "a") as log:
        log.write(f"{group} {os.environ['PYTEST_XDIST_WORKER']}\\n")
"""

FIXTURE = """

@pytest.fixture(scope="session")
def {name}():
    return "{name}"
"""

TESTS = """
import time

import pytest

from conftest import record


@pytest.fixture(scope="module")
def uses_demo(demo_run):
    return demo_run


@pytest.mark.parametrize("n", range(6))
def test_demo(uses_demo, n):
    time.sleep(0.2)
    record("demo")


@pytest.mark.parametrize("n", range(6))
def test_spark(spark_session, n):
    time.sleep(0.2)
    record("spark")


@pytest.mark.parametrize("n", range(6))
def test_ui(dagster_ui, n):
    time.sleep(0.2)
    record("ui")


@pytest.mark.parametrize("n", range(6))
def test_free(n):
    time.sleep(0.2)
    record("free")
"""


def test_tests_sharing_a_session_fixture_run_on_one_worker(tmp_path):
    fixtures = "".join(FIXTURE.format(name=name) for name in SHARED_FIXTURE_GROUPS)
    (tmp_path / "conftest.py").write_text(CONFTEST + fixtures)
    (tmp_path / "test_groups.py").write_text(TESTS)
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    args = ["-n", "2", "--dist", "loadgroup", "-v", "-p", "no:cacheprovider", str(tmp_path)]
    result = run_command(
        [sys.executable, "-m", "pytest", *args],
        cwd=tmp_path,
        env={"PYTHONPATH": str(PROJECT_DIR), "PATH": "/usr/bin:/bin"},
        timeout=180,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    # xdist names a grouped test by its group: a missing suffix means the groups were dropped.
    assert "test_demo[0]@demo" in result.stdout, result.stdout
    workers = defaultdict(set)
    for line in (tmp_path / "ran.txt").read_text().splitlines():
        group, worker = line.split()
        workers[group].add(worker)
    assert {g: len(w) for g, w in workers.items() if g != "free"} == {
        "demo": 1,
        "spark": 1,
        "ui": 1,
    }
    # Both workers were in use, so one worker for a group was the rule, not the only choice.
    assert len(set().union(*workers.values())) == 2


def test_no_test_module_names_a_group_of_its_own():
    """A module's own xdist_group joins the fixture's group into another name, which xdist may
    give another worker: one more Spark JVM in the default run (the parity modules had one).
    A module outside the default run (all its tests slow) may keep its fixture on one worker so."""
    tests = PROJECT_DIR / "braze_assets_tests"
    named = [
        str(path.relative_to(tests))
        for path in tests.rglob("*.py")
        if path.name != "conftest.py"
        and path != Path(__file__).resolve()
        and "xdist_group(" in path.read_text()
        and not re.search(r"^pytestmark = \[?pytest\.mark\.slow\b", path.read_text(), re.M)
    ]
    assert named == []
