"""The one base of every config model: unknown keys are errors and loaded config is immutable.

Kept free of other braze_assets imports so every config model can use it without an import cycle.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
