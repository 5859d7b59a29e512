"""The `braze` resource for every domain that talks to Braze (sync, read-back)."""

from __future__ import annotations

import dagster as dg

from braze_assets.defs.braze.resources import braze_resource_from_env

BRAZE_RESOURCE_KEY = "braze"


def build_defs() -> dg.Definitions:
    return dg.Definitions(resources={BRAZE_RESOURCE_KEY: braze_resource_from_env()})


@dg.definitions
def defs() -> dg.Definitions:
    # Collected by dg.load_from_defs_folder (braze_assets/definitions.py).
    return build_defs()
