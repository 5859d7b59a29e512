import dagster as dg

from braze_assets.defs.jobs.jobs import ALL_JOBS, customer_360_refresh

daily_customer_refresh_schedule = dg.ScheduleDefinition(
    name="daily_customer_refresh",
    job=customer_360_refresh,
    cron_schedule="0 5 * * *",
    execution_timezone="UTC",
    description="Every morning: reload sources, re-resolve identities, rebuild customer 360 and attributes.",
    default_status=dg.DefaultScheduleStatus.STOPPED,
)


def build_defs() -> dg.Definitions:
    return dg.Definitions(jobs=ALL_JOBS, schedules=[daily_customer_refresh_schedule])
