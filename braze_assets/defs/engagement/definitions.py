import dagster as dg

from braze_assets.defs.engagement.assets import build_engagement_assets


def build_defs() -> dg.Definitions:
    return dg.Definitions(assets=build_engagement_assets())


@dg.definitions
def defs() -> dg.Definitions:
    # Collected by dg.load_from_defs_folder (braze_assets/definitions.py).
    return build_defs()
