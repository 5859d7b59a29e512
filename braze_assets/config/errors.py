from __future__ import annotations

# Defined in a leaf module so the domains' config models can raise it without importing the
# config package (which imports them).
from braze_assets.errors import ConfigError

__all__ = ["ConfigError"]
