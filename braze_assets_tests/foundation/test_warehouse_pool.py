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
