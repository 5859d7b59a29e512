"""The cross-section checks run after every config load, in data-path order."""

from __future__ import annotations

from typing import Callable

from braze_assets.config.model import ProjectConfig

CROSS_CHECKS: list[Callable[[ProjectConfig], None]] = []
