import dagster as dg

from braze_assets.defs.runs.executor import owner_tagging_executor


@dg.definitions
def defs() -> dg.Definitions:
    # Collected by dg.load_from_defs_folder (braze_assets/definitions.py): every job runs on it.
    return dg.Definitions(executor=owner_tagging_executor)
