import dagster as dg

from braze_assets.defs.identity.assets import build_identity_assets
from braze_assets.defs.identity.checks import build_identity_checks
from braze_assets.defs.project import project_config


def build_defs() -> dg.Definitions:
    config = project_config()
    identity = config.identity
    return dg.Definitions(
        assets=build_identity_assets(config, identity), asset_checks=build_identity_checks(identity)
    )


@dg.definitions
def defs() -> dg.Definitions:
    # Collected by dg.load_from_defs_folder (braze_assets/definitions.py).
    return build_defs()
