import dagster as dg

from braze_assets.defs.project import project_config
from braze_assets.defs.snapshots.assets import build_snapshot_asset
from braze_assets.defs.snapshots.checks import payload_valid
from braze_assets.defs.snapshots.partitions import daily_partitions


def build_defs() -> dg.Definitions:
    config = project_config()
    if not config.destinations:
        return dg.Definitions()
    return dg.Definitions(
        assets=[
            build_snapshot_asset(config.destinations, config.sync, daily_partitions(config.sync))
        ],
        asset_checks=[payload_valid],
    )


@dg.definitions
def defs() -> dg.Definitions:
    # Collected by dg.load_from_defs_folder (braze_assets/definitions.py).
    return build_defs()
