import dagster as dg

from braze_assets.defs.audiences.assets import build_audience_assets
from braze_assets.defs.audiences.jobs import build_test_run_job
from braze_assets.defs.project import project_config


def build_defs() -> dg.Definitions:
    # load_config has already run check_audiences: bad columns, types or destinations fail the load.
    config = project_config()
    audiences = config.audiences
    if not audiences.activations():
        return dg.Definitions()
    return dg.Definitions(
        assets=[build_audience_assets(audiences)],
        jobs=[build_test_run_job(audiences, config.destinations)],
    )


@dg.definitions
def defs() -> dg.Definitions:
    # Collected by dg.load_from_defs_folder (braze_assets/definitions.py).
    return build_defs()
