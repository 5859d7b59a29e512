import dagster as dg

from braze_assets.defs.engagement.assets import engagement_attributes


def build_defs() -> dg.Definitions:
    return dg.Definitions(assets=[engagement_attributes])
