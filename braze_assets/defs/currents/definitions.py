import dagster as dg

from braze_assets.currents.config import CurrentsConfig
from braze_assets.defs.currents.assets import build_currents_events_asset
from braze_assets.defs.currents.checks import build_currents_checks
from braze_assets.defs.currents.partitions import event_date_partitions
from braze_assets.defs.currents.resources import CURRENTS_S3_KEY, currents_s3_resource_from_env
from braze_assets.defs.currents.sensors import build_currents_sensor
from braze_assets.defs.project import project_config


def currents_config() -> CurrentsConfig:
    return project_config().currents


def build_defs() -> dg.Definitions:
    config = currents_config()
    events = build_currents_events_asset(config, event_date_partitions(config))
    return dg.Definitions(
        assets=[events],
        asset_checks=build_currents_checks(),
        sensors=[build_currents_sensor(config, events)],
        resources={CURRENTS_S3_KEY: currents_s3_resource_from_env()},
    )


@dg.definitions
def defs() -> dg.Definitions:
    # Collected by dg.load_from_defs_folder (braze_assets/definitions.py).
    return build_defs()
