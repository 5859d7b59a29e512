import dagster as dg

from braze_assets.audiences import check_audiences
from braze_assets.defs.audiences.assets import build_audience_assets
from braze_assets.defs.audiences.jobs import build_audiences_job, build_schedules, build_test_run_job
from braze_assets.defs.project import project_config


def build_defs() -> dg.Definitions:
    config = project_config()
    audiences = getattr(config, "audiences", None)
    if audiences is None or not audiences.activations():
        return dg.Definitions()
    # Unknown columns, type mismatches and unknown destinations fail the definitions load.
    check_audiences(config)
    job = build_audiences_job(audiences)
    return dg.Definitions(
        assets=[build_audience_assets(audiences)],
        jobs=[job, build_test_run_job(audiences)],
        schedules=build_schedules(audiences, job),
    )
