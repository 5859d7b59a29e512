import dagster as dg

from braze_assets.defs.sources.assets import build_source_assets


def build_defs() -> dg.Definitions:
    return dg.Definitions(assets=build_source_assets())
