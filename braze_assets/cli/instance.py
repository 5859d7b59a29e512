"""A real Dagster instance whose storage lives under the data dir (or DAGSTER_HOME)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from braze_assets import settings


def dagster_home(data_dir: Path) -> Path:
    home = Path(os.environ.get("DAGSTER_HOME") or data_dir / "dagster_home").resolve()
    home.mkdir(parents=True, exist_ok=True)
    target = home / "dagster.yaml"
    source = settings.PROJECT_DIR / "dagster.yaml"
    if source.exists() and (not target.exists() or target.read_bytes() != source.read_bytes()):
        shutil.copyfile(source, target)
    os.environ["DAGSTER_HOME"] = str(home)
    return home
