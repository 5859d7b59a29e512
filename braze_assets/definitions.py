"""The Dagster code location: every domain under braze_assets/defs/, loaded by dg's convention.

Each domain's `definitions.py` exposes its definitions with `@dg.definitions`;
`dg.load_from_defs_folder` imports every module under `defs/`, so a domain that fails to import
fails the whole code location loudly instead of being skipped.
"""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from braze_assets.defs.engine import engine_resources, warehouse_memory_limit
from braze_assets.defs.resources import WAREHOUSE_KEY, warehouse_resource


def build_definitions() -> dg.Definitions:
    return dg.Definitions.merge(
        dg.Definitions(
            resources={
                WAREHOUSE_KEY: warehouse_resource(warehouse_memory_limit()),
                **engine_resources(),
            }
        ),
        dg.load_from_defs_folder(path_within_project=Path(__file__).resolve().parent),
    )


defs = build_definitions()
