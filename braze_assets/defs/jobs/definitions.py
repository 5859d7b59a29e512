import dagster as dg

from braze_assets.defs.jobs.jobs import ALL_JOBS, customer_360_refresh, full_resync_job
from braze_assets.defs.project import project_config

daily_customer_refresh_schedule = dg.ScheduleDefinition(
    name="daily_customer_refresh",
    job=customer_360_refresh,
    cron_schedule="0 5 * * *",
    execution_timezone="UTC",
    description="Every morning: reload sources, re-resolve identities, rebuild customer 360 and attributes.",
    default_status=dg.DefaultScheduleStatus.STOPPED,
)


def build_defs() -> dg.Definitions:
    destinations = [d.name for d in project_config().destinations]
    jobs = [*ALL_JOBS, full_resync_job(destinations)] if destinations else ALL_JOBS
    return dg.Definitions(jobs=jobs, schedules=[daily_customer_refresh_schedule])


@dg.definitions
def defs() -> dg.Definitions:
    # Collected by dg.load_from_defs_folder (braze_assets/definitions.py).
    return build_defs()
