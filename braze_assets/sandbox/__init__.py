"""A local Braze REST API for demos, tests, dry runs and benchmarks."""

from braze_assets.sandbox.api import DEFAULT_API_KEY, SANDBOX_API_KEY
from braze_assets.sandbox.faults import FaultConfig
from braze_assets.sandbox.server import SandboxServer, serve

__all__ = ["DEFAULT_API_KEY", "SANDBOX_API_KEY", "FaultConfig", "SandboxServer", "serve"]
