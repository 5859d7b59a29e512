"""The demo tools are an optional extra: `pip install 'braze-assets[demo]'`.

The local Braze sandbox (braze_assets.sandbox), the demo data generator (braze_assets.demo_data),
the demo Currents writer and the local S3 endpoint (moto's server, which pulls Flask, cfn-lint and
docker) exist to run the product without a Braze workspace or a bucket. A production install leaves
them out; the definitions and the production commands (`status`, `ui` against configured
endpoints) never import them, and a demo command says which install it needs instead of failing
on an import deep inside.
"""

from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType

from braze_assets.cli.errors import UserFacingError

DEMO_EXTRA = "braze-assets[demo]"
# Third-party packages only the demo extra brings; the sandbox and the generator are ours.
_DEMO_PACKAGES = ("moto", "flask")


def _missing(what: str, name: str) -> UserFacingError:
    return UserFacingError(
        f"{what} needs the demo tools, which this install does not have ({name} is missing); "
        f"install them with: pip install '{DEMO_EXTRA}'"
    )


def require_demo(what: str) -> None:
    """Fail in one line when the `demo` extra is not installed."""
    for package in _DEMO_PACKAGES:
        try:
            found = importlib.util.find_spec(package) is not None
        except ImportError:
            found = False
        if not found:
            raise _missing(what, package)


def demo_module(name: str, what: str) -> ModuleType:
    """Import a demo-only module of ours (e.g. braze_assets.sandbox) for the command `what`."""
    require_demo(what)
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        raise _missing(what, exc.name or name) from None
