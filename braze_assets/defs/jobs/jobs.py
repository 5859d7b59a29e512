"""The jobs users run: each covers assets that share one partitioning, in data-path order.

Dagster runs one partitioning per run, so the daily flow is four jobs: customer refresh
(unpartitioned) -> campaign audiences (one partition per campaign) -> Braze sync (daily
partition), and Currents ingestion (one partition per event date). `braze-assets demo` runs them
in that order (plan.py); in a deployment the asset automation conditions (defs/automation.py,
sensor braze_assets_automation) and the Currents S3 sensor start the same work.
"""

import dagster as dg

from braze_assets import tables
from braze_assets.defs.sync.assets import sync_asset_key

CUSTOMER_GROUPS = ("sources", "identity", tables.CUSTOMER_360_GROUP, "engagement", "attributes")

customer_360_refresh = dg.define_asset_job(
    "customer_360_refresh",
    selection=dg.AssetSelection.groups(*CUSTOMER_GROUPS),
    description="Load the sources, resolve identities, rebuild the customer 360 and the Braze customer attributes.",
    tags={"flow": "daily"},
)
currents_ingest = dg.define_asset_job(
    "currents_ingest",
    selection=dg.AssetSelection.groups("currents"),
    description="Ingest Braze Currents files of one event-date partition from S3.",
    tags={"flow": "currents"},
)
campaign_audiences_refresh = dg.define_asset_job(
    "campaign_audiences_refresh",
    selection=dg.AssetSelection.groups("audiences"),
    description="Evaluate one campaign's or orchestration's audience (one partition each).",
    tags={"flow": "daily"},
)
braze_daily_sync = dg.define_asset_job(
    "braze_daily_sync",
    selection=dg.AssetSelection.groups("snapshots", "sync"),
    description="Snapshot the intended Braze state for the day and send only what changed.",
    tags={"flow": "daily"},
)

ALL_JOBS = [customer_360_refresh, currents_ingest, campaign_audiences_refresh, braze_daily_sync]


def full_resync_job(destinations: list[str]):
    """Resend every intended value, changed or not: after restoring a workspace or switching to a new one."""
    return dg.define_asset_job(
        "braze_full_resync",
        selection=dg.AssetSelection.groups("snapshots", "sync"),
        config={
            "ops": {
                # The op of an asset is named after its key (braze_sync_results/x -> ..._x).
                sync_asset_key(name).to_python_identifier(): {"config": {"full_resync": True}}
                for name in destinations
            }
        },
        description=(
            "Full refresh to Braze: snapshot the day and resend every intended value to every destination. "
            "Costs one data point per value; the data-point budget still applies unless overridden."
        ),
        tags={"flow": "full_refresh"},
    )
