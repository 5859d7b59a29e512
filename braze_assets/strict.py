"""The one base of every config model: unknown keys are errors and loaded config is immutable.

Kept free of braze_assets imports other than the dependency-free names rule, so every config model
can use it without an import cycle.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, field_validator

from braze_assets.names import check_name


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def name_validator(label: str):
    """The `name` field's validator: the one naming rule, with `label` (e.g. "source name") in the
    message. Assign it in the model body: `_name = name_validator("source name")`."""

    def _check(cls, value: str) -> str:
        return check_name(value, label)

    return field_validator("name")(_check)
