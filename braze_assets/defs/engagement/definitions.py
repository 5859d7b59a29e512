import dagster as dg

from braze_assets.defs.engagement.assets import engagement_attributes


def build_defs() -> dg.Definitions:
    return dg.Definitions(assets=[engagement_attributes])


@dg.definitions
def defs() -> dg.Definitions:
    # Collected by dg.load_from_defs_folder (braze_assets/definitions.py).
    return build_defs()
