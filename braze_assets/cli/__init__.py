"""The `braze-assets` command: what is not a Dagster concern (demo data, local services, status)."""

from braze_assets.cli.main import main

__all__ = ["main"]
