import dagster as dg

from braze_assets.defs.customer_360.profile import build_profile_assets
from braze_assets.defs.customer_360.transactions import build_transaction_assets
from braze_assets.defs.project import project_config


def build_defs() -> dg.Definitions:
    config = project_config()
    return dg.Definitions(
        assets=[
            *build_profile_assets(config, config.identity),
            *build_transaction_assets(),
        ]
    )


@dg.definitions
def defs() -> dg.Definitions:
    # Collected by dg.load_from_defs_folder (braze_assets/definitions.py).
    return build_defs()
