import dagster as dg

from braze_assets.defs import automation
from braze_assets.defs.jobs.jobs import ALL_JOBS, full_resync_job
from braze_assets.defs.project import project_config

# Evaluates every asset's automation condition (defs/automation.py). Currents ingestion has its
# own sensor on S3 (currents_new_files). STOPPED: nothing runs by itself in a fresh deployment.
automation_sensor = dg.AutomationConditionSensorDefinition(
    automation.AUTOMATION_SENSOR,
    target=dg.AssetSelection.all() - dg.AssetSelection.groups("currents"),
    default_status=dg.DefaultSensorStatus.STOPPED,
    # Campaign cadences use a condition of ours (automation.InPartitions), which runs in user code.
    use_user_code_server=True,
    description=(
        "Declarative automation of the daily flow: sources at 05:00 UTC, everything derived as soon "
        "as its inputs changed and their blocking checks passed, each campaign on its cadence, each "
        "destination's sync on its cron. Stopped until you turn it on."
    ),
)


def build_defs() -> dg.Definitions:
    destinations = [d.name for d in project_config().destinations]
    jobs = [*ALL_JOBS, full_resync_job(destinations)] if destinations else ALL_JOBS
    return dg.Definitions(jobs=jobs, sensors=[automation_sensor])


@dg.definitions
def defs() -> dg.Definitions:
    # Collected by dg.load_from_defs_folder (braze_assets/definitions.py).
    return build_defs()
