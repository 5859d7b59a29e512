"""Every asset, check and op that opens the warehouse runs in WAREHOUSE_POOL.

DuckDB lets one process write a file or many processes read it, never both at once, so anything
that touches the warehouse (even to read) beside a materialisation must wait for the pool's slot.
"""

from braze_assets.defs.project import WAREHOUSE_POOL
from braze_assets.defs.resources import WAREHOUSE_KEY


def _warehouse_nodes():
    from braze_assets.definitions import defs

    for asset in defs.assets or []:
        if hasattr(asset, "node_def"):
            yield "asset", ", ".join(k.to_user_string() for k in asset.keys), asset
    for check in defs.asset_checks or []:
        names = ", ".join(f"{k.asset_key.to_user_string()}:{k.name}" for k in check.check_keys)
        yield "check", names, check
    repository = defs.get_repository_def()
    for job in repository.get_all_jobs():
        for node in job.graph.node_defs:
            yield "op", f"{job.name}/{node.name}", node


def test_every_warehouse_user_is_in_the_pool():
    seen, missing = 0, []
    for kind, name, definition in _warehouse_nodes():
        if WAREHOUSE_KEY not in definition.required_resource_keys:
            continue
        seen += 1
        node = getattr(definition, "node_def", definition)
        if getattr(node, "pool", None) != WAREHOUSE_POOL:
            missing.append(f"{kind} {name}")
    assert seen >= 20, f"only {seen} warehouse users found; the walk misses definitions"
    assert not missing, f"not in pool {WAREHOUSE_POOL!r}: {sorted(set(missing))}"


def _pool_users(defs) -> list[tuple[str, str, frozenset, object]]:
    """(kind, name, required resource keys, pool) of every asset, check and op."""
    found = []
    for asset in defs.assets or []:
        if hasattr(asset, "node_def"):
            name = ", ".join(k.to_user_string() for k in asset.keys)
            keys = frozenset(asset.required_resource_keys)
            found.append(("asset", name, keys, getattr(asset.node_def, "pool", None)))
    for check in defs.asset_checks or []:
        name = ", ".join(f"{k.asset_key.to_user_string()}:{k.name}" for k in check.check_keys)
        keys = frozenset(check.required_resource_keys)
        found.append(("check", name, keys, getattr(check.node_def, "pool", None)))
    return found


SPARK_WALK = """
import json
from braze_assets.definitions import defs
from braze_assets_tests.foundation.test_warehouse_pool import _pool_users
print(json.dumps([[k, n, sorted(r), p] for k, n, r, p in _pool_users(defs)]))
"""


def test_spark_mode_assets_take_no_duckdb_pool():
    """In Spark mode a stage on the Spark engine asks for the spark resource and no pool; the
    DuckDB pool is held only by what still opens the DuckDB file."""
    import json
    import os

    from braze_assets_tests.conftest import run_python

    done = run_python(SPARK_WALK, env={**os.environ, "BRAZE_ASSETS_ENGINE": "spark"})
    assert done.returncode == 0, done.stderr
    users = json.loads(done.stdout.strip().splitlines()[-1])
    on_spark = [(k, n, p) for k, n, r, p in users if "spark" in r]
    assert ("asset", "unified_standardised", None) in on_spark, on_spark
    wrong = [
        f"{k} {n}: pool {p!r} with resources {r}"
        for k, n, r, p in users
        if (p == WAREHOUSE_POOL) != (WAREHOUSE_KEY in r) and k == "asset"
    ]
    assert not wrong, wrong
