"""`BRAZE_ASSETS_ENGINE=spark braze-assets demo` against DuckDB mode's demo on the same inputs: the
same customers, id churn, Braze attributes, audience members, snapshot and payloads the sandbox
received over HTTP.

Customer ids are UUIDs named by the run that created them, so two demos name the same customer
differently; every customer id is compared by the smallest source record it holds. A campaign's
control group is drawn by hashing the customer id, so two demos hold out different customers
whatever the engine: for a campaign with a control group the members are compared without their
group, and the Braze attributes that follow the group (membership and member attributes) are left
out of the snapshot and payload comparison. Every other value is compared exactly.
"""

from __future__ import annotations

import shutil
from collections import Counter
from pathlib import Path

import duckdb
import pytest

from braze_assets.engine.config import ENV_ENGINE
from braze_assets.sandbox import SandboxServer
from braze_assets.settings import DEMO_CONFIG_DIR
from braze_assets_tests.conftest import cli_env, run_cli

# Two whole demos at the issue's own size (one on local Spark) take over 10 minutes on 2 cores:
# outside the default run, which must stay under 10 minutes; tests/engine/test_parity.py keeps
# Spark parity of the ported stages in it. Run with `./run test -m slow`.
pytestmark = pytest.mark.slow

# `BRAZE_ASSETS_ENGINE=spark braze-assets demo --people 2000`, and the same on DuckDB.
PEOPLE = 2_000

SPARK_ENGINE_YAML = """\
engine:
  name: duckdb   # BRAZE_ASSETS_ENGINE=spark overrides it, as a user would
  spark:
    master: local[2]
    conf:
      spark.sql.shuffle.partitions: 2
      spark.default.parallelism: 2
      spark.ui.enabled: false
      spark.driver.memory: 1g
"""


def _demo(base: Path, engine: str) -> Path:
    """One `braze-assets demo --people PEOPLE` with the same config; `engine` set as a user would,
    through BRAZE_ASSETS_ENGINE."""
    config_dir = base / "config"
    shutil.copytree(DEMO_CONFIG_DIR, config_dir)
    (config_dir / "engine.yaml").write_text(SPARK_ENGINE_YAML)
    data_dir = base / "data"
    data_dir.mkdir()
    env = cli_env(data_dir, BRAZE_ASSETS_CONFIG_DIR=str(config_dir), **{ENV_ENGINE: engine})
    result = run_cli("demo", "--people", str(PEOPLE), env=env, timeout=1500)
    assert result.returncode == 0, f"{engine} demo failed:\n{result.stdout}\n{result.stderr}"
    return data_dir


@pytest.fixture(scope="module")
def spark_demo(tmp_path_factory):
    return _demo(tmp_path_factory.mktemp("spark_demo"), "spark")


@pytest.fixture(scope="module")
def duckdb_demo(tmp_path_factory):
    return _demo(tmp_path_factory.mktemp("duckdb_demo"), "duckdb")


class Demo:
    """One finished demo's warehouse and sandbox, with customer ids made comparable."""

    def __init__(self, data_dir: Path):
        self.data_dir = data_dir
        self.con = duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True)
        self.key = dict(
            self.con.execute(
                "SELECT customer_id, 'customer holding ' || min(record_id) FROM "
                "customer_id_assignments GROUP BY customer_id"
            ).fetchall()
        )
        with SandboxServer(data_dir / "braze_sandbox") as sandbox:
            self.profiles = {
                p["external_id"]: {
                    k: v for k, v in p.items() if k not in ("braze_id", "created_at")
                }
                for p in sandbox.profiles()
            }
            self.points = sandbox.data_points()

    def rows(self, query: str, drop: tuple[str, ...] = ()) -> list[tuple]:
        cursor = self.con.execute(query)
        names = [d[0] for d in cursor.description]
        keep = [i for i, n in enumerate(names) if n not in drop]
        rows = [
            tuple(self.key.get(row[i], row[i]) if isinstance(row[i], str) else row[i] for i in keep)
            for row in cursor.fetchall()
        ]
        return sorted(rows, key=repr)

    def customers(self) -> set[frozenset]:
        groups: dict[str, set] = {}
        for customer_id, record_id in self.con.execute(
            "SELECT customer_id, record_id FROM unified_coalesced"
        ).fetchall():
            groups.setdefault(customer_id, set()).add(record_id)
        return {frozenset(g) for g in groups.values()}


def _held_out(demo: Demo) -> tuple[set[str], set[str]]:
    """Campaigns with a control group, and the Braze attributes that depend on who is held out."""
    campaigns = {
        row[0]
        for row in demo.con.execute(
            "SELECT DISTINCT campaign FROM audience_members WHERE member_group = 'control'"
        ).fetchall()
    }
    listed = ", ".join(f"'{c}'" for c in campaigns) or "NULL"
    attributes = {
        row[0]
        for row in demo.con.execute(
            f"SELECT membership_attribute FROM audience_members WHERE campaign IN ({listed}) "
            f"UNION SELECT attribute FROM campaign_member_attributes WHERE campaign IN ({listed})"
        ).fetchall()
    }
    return campaigns, attributes


@pytest.fixture(scope="module")
def demos(duckdb_demo, spark_demo):
    on_duckdb, on_spark = Demo(duckdb_demo), Demo(spark_demo)
    held_campaigns, held_attributes = set(), set()
    for demo in (on_duckdb, on_spark):
        campaigns, attributes = _held_out(demo)
        held_campaigns |= campaigns
        held_attributes |= attributes
    for demo in (on_duckdb, on_spark):
        demo.held_campaigns, demo.held_attributes = held_campaigns, held_attributes
    yield on_duckdb, on_spark
    on_duckdb.con.close()
    on_spark.con.close()


@pytest.mark.integration
def test_spark_demo_standardised_on_spark(spark_demo):
    tables = spark_demo / "spark_tables"
    assert (tables / "unified_standardised" / "_SUCCESS").exists()
    assert (tables / "raw_ecommerce" / "_SUCCESS").exists()


@pytest.mark.integration
def test_same_customers_and_id_churn(demos):
    on_duckdb, on_spark = demos
    assert on_spark.customers() == on_duckdb.customers()
    # A retired id holds no records any more: it is compared by the customer it merged into.
    registry = (
        "SELECT CASE WHEN status = 'active' THEN customer_id ELSE 'retired' END, status, "
        "merged_into, record_count FROM customer_id_registry"
    )
    assert on_spark.rows(registry) == on_duckdb.rows(registry)
    churn = "SELECT status, count(*) FROM customer_id_registry GROUP BY status"
    assert Counter(dict(on_spark.rows(churn))) == Counter(dict(on_duckdb.rows(churn)))
    assert len(on_duckdb.rows(registry)) > 0


@pytest.mark.integration
def test_same_braze_attributes_audiences_and_snapshot(demos):
    on_duckdb, on_spark = demos
    held = ", ".join(f"'{c}'" for c in on_duckdb.held_campaigns) or "NULL"
    varying = ", ".join(f"'{a}'" for a in on_duckdb.held_attributes) or "NULL"
    for query, drop in (
        ("SELECT * FROM braze_customer_attributes", ()),
        (
            "SELECT * REPLACE (CASE WHEN campaign IN ("
            + held
            + ") THEN 'held-out draw' ELSE member_group END AS member_group) FROM audience_members",
            ("run_id", "computed_at"),
        ),
        (
            f"SELECT * FROM campaign_member_attributes WHERE campaign NOT IN ({held})",
            ("run_id", "computed_at"),
        ),
        (f"SELECT * FROM attribute_snapshots WHERE attribute NOT IN ({varying})", ("key_id",)),
    ):
        duck_rows, spark_rows = on_duckdb.rows(query, drop), on_spark.rows(query, drop)
        assert duck_rows, query
        assert spark_rows == duck_rows, query


@pytest.mark.integration
def test_sandbox_received_the_same_payloads(demos):
    on_duckdb, on_spark = demos
    varying = on_duckdb.held_attributes

    def profiles(demo: Demo) -> dict:
        kept = {
            external_id: {
                **profile,
                "custom_attributes": {
                    k: v
                    for k, v in (profile.get("custom_attributes") or {}).items()
                    if k not in varying
                },
            }
            for external_id, profile in demo.profiles.items()
        }
        # A profile that holds nothing but the held-out campaign's attributes exists only when
        # that run's draw put the customer in the treated group (seen: 2 of 892 profiles).
        return {
            k: v
            for k, v in kept.items()
            if v["custom_attributes"] or set(v) - {"external_id", "custom_attributes"}
        }

    def points(demo: Demo) -> dict:
        return {k: v for k, v in demo.points["by_attribute"].items() if k not in varying}

    assert len(on_duckdb.profiles) > PEOPLE / 2
    on_spark_profiles, on_duckdb_profiles = profiles(on_spark), profiles(on_duckdb)
    differ = sorted(
        k
        for k in on_spark_profiles.keys() | on_duckdb_profiles.keys()
        if on_spark_profiles.get(k) != on_duckdb_profiles.get(k)
    )
    # The profiles themselves, not pytest's truncated diff of two dicts of a thousand.
    assert not differ, "profiles differ:\n" + "\n".join(
        f"{k}:\n  duckdb {on_duckdb_profiles.get(k)}\n  spark  {on_spark_profiles.get(k)}"
        for k in differ[:10]
    )
    assert points(on_spark) == points(on_duckdb)
