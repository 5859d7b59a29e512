"""Which exceptions are the user's to fix, and how to say so in one line."""

from __future__ import annotations

import sys

import dagster as dg

from braze_assets.config import ConfigError


class UserFacingError(RuntimeError):
    """A problem the user can fix; its message says how."""


def _known_types() -> tuple[type[BaseException], ...]:
    from braze_assets.braze.client import BrazeError
    from braze_assets.engine import EngineStartupError
    from braze_assets.sources.load import SourceError
    from braze_assets.warehouse import WarehouseFileError, WarehouseSettingError

    known = (
        ConfigError,
        WarehouseFileError,
        SourceError,
        BrazeError,
        WarehouseSettingError,
        UserFacingError,
        EngineStartupError,
    )
    # The demo generator is the `demo` extra: only a command that imported it can raise its error,
    # and a production install must not import it here.
    demo_data = sys.modules.get("braze_assets.demo_data")
    if demo_data is not None:
        known += (demo_data.DemoDataExistsError,)
    return known


def user_message(exc: BaseException) -> str | None:
    """The one-line message for a known failure, looking through Dagster's wrappers."""
    import duckdb

    from braze_assets import settings, warehouse

    seen = exc
    while seen is not None:
        if isinstance(seen, _known_types()):
            return str(seen)
        if isinstance(seen, duckdb.Error):
            explained = warehouse.explain(str(seen), settings.warehouse_path())
            if explained is not None:
                return explained
        if isinstance(seen, dg.DagsterUserCodeExecutionError) and seen.user_exception is not None:
            seen = seen.user_exception
            continue
        seen = seen.__cause__ or seen.__context__
    return None
