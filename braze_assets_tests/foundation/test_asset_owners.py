"""Every asset names the project's owners, whichever decorator built it (warehouse_asset,
engine_asset_args or a multi-asset's specs), so the UI shows who to ask about any table."""

from braze_assets.defs.project import OWNERS


def test_every_asset_has_the_projects_owners():
    from braze_assets.definitions import defs

    seen, missing = 0, []
    for asset in defs.assets or []:
        for key, owners in getattr(asset, "owners_by_key", {}).items():
            seen += 1
            if list(owners) != OWNERS:
                missing.append(f"{key.to_user_string()}: {owners}")
    assert seen >= 15, f"only {seen} assets found; the walk misses definitions"
    assert not missing, missing
