import dagster as dg

from braze_assets.attributes import carried_columns
from braze_assets.defs.attributes.assets import build_attributes_asset
from braze_assets.defs.attributes.checks import build_attribute_checks
from braze_assets.defs.project import project_config


def build_defs() -> dg.Definitions:
    config = project_config()
    destinations = list(config.destinations)
    aliases = config.sync.lifecycle.aliases
    alias_label = aliases.label if aliases.enabled else None
    return dg.Definitions(
        assets=[build_attributes_asset(destinations, carried_columns(config), alias_label)],
        asset_checks=build_attribute_checks(destinations),
    )


@dg.definitions
def defs() -> dg.Definitions:
    # Collected by dg.load_from_defs_folder (braze_assets/definitions.py).
    return build_defs()
