import dagster as dg

from braze_assets.defs.project import project_config
from braze_assets.defs.snapshots.partitions import daily_partitions
from braze_assets.defs.sync.assets import build_sync_asset
from braze_assets.defs.sync.checks import build_sync_checks
from braze_assets.defs.sync.jobs import build_sync_job
from braze_assets.defs.sync.lifecycle_checks import build_lifecycle_check


def build_defs() -> dg.Definitions:
    config = project_config()
    if not config.destinations:
        return dg.Definitions()
    partitions = daily_partitions(config.sync)
    authority = config.sync.lifecycle.consent.authority
    consent_source = config.source(authority) if authority else None
    return dg.Definitions(
        assets=[
            build_sync_asset(d, config.sync, partitions, config.transactions, consent_source)
            for d in config.destinations
        ],
        asset_checks=[
            check for d in config.destinations for check in build_sync_checks(d, config.sync)
        ]
        + [build_lifecycle_check(d, config.sync, config.transactions) for d in config.destinations],
        jobs=[build_sync_job(d) for d in config.destinations],
    )


@dg.definitions
def defs() -> dg.Definitions:
    # Collected by dg.load_from_defs_folder (braze_assets/definitions.py).
    return build_defs()
