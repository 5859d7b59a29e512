from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from braze_assets.sync.config import SyncConfig

DEMO = Path(__file__).resolve().parents[2] / "braze_assets" / "config" / "demo" / "sync.yaml"


def test_demo_section_and_destination_overrides():
    config = SyncConfig.model_validate(yaml.safe_load(DEMO.read_text())["sync"])
    braze = config.for_destination("braze", update_existing_only=False)
    assert braze.cron == "30 5 * * *" and braze.data_point_budget == config.data_point_budget
    assert braze.update_existing_only is False
    other = SyncConfig(
        data_point_budget=10,
        destinations={"eu": {"data_point_budget": 0, "max_objects_per_run": 5}},
    )
    eu = other.for_destination("eu")
    assert (eu.data_point_budget, eu.max_objects_per_run, eu.cron) == (0, 5, "0 6 * * *")


@pytest.mark.parametrize(
    "bad",
    [
        {"default_cron": "0 6 * *"},
        {"bogus": 1},
        {"snapshot_retention_days": 0},
        {"destinations": {"x": {"cron": "every day"}}},
    ],
)
def test_bad_settings_are_named(bad):
    with pytest.raises(ValidationError) as info:
        SyncConfig.model_validate(bad)
    assert list(bad)[0] in str(info.value)
