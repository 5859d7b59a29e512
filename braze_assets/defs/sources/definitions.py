import dagster as dg

from braze_assets.defs.sources.assets import build_source_assets


def build_defs() -> dg.Definitions:
    return dg.Definitions(assets=build_source_assets())


@dg.definitions
def defs() -> dg.Definitions:
    # Collected by dg.load_from_defs_folder (braze_assets/definitions.py).
    return build_defs()
