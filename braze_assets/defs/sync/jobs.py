"""One sync job per destination, to run a destination's sync by hand (automation: defs/automation.py)."""

import dagster as dg

from braze_assets.attributes.config import DestinationConfig
from braze_assets.defs.sync.assets import sync_asset_key
from braze_assets.sync.tables import SNAPSHOTS


def sync_job_name(destination: str) -> str:
    return f"braze_sync_{destination}"


def build_sync_job(destination: DestinationConfig):
    # Partitioning is inferred from the selected (daily-partitioned) assets.
    return dg.define_asset_job(
        sync_job_name(destination.name),
        selection=dg.AssetSelection.assets(SNAPSHOTS, sync_asset_key(destination.name)),
        description=f"Snapshot today's intended state and send destination {destination.name!r} what changed.",
        tags={"flow": "sync", "destination": destination.name},
    )
