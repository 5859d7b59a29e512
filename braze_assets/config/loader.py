"""Read the config directory (one YAML file per section) into a validated ProjectConfig.

Errors are raised as ConfigError naming the file, the entry (e.g. `sources[1].columns`) and
the problem, so a malformed config fails the definitions load with a message, not a traceback.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from braze_assets import settings
from braze_assets.config.checks import CROSS_CHECKS
from braze_assets.config.errors import ConfigError
from braze_assets.config.model import ProjectConfig


def _read_sections(config_dir: Path) -> tuple[dict[str, Any], dict[str, Path]]:
    if not config_dir.is_dir():
        raise ConfigError(
            f"config directory {config_dir} does not exist (set {settings.ENV_CONFIG_DIR})"
        )
    files = sorted(config_dir.glob("*.yaml")) + sorted(config_dir.glob("*.yml"))
    if not files:
        raise ConfigError(f"config directory {config_dir} has no .yaml files")
    merged: dict[str, Any] = {}
    origin: dict[str, Path] = {}
    for path in files:
        try:
            document = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
            raise ConfigError(
                f"malformed YAML: {where}{getattr(exc, 'problem', None) or exc}", file=str(path)
            ) from None
        if document is None:
            continue
        if not isinstance(document, dict):
            raise ConfigError("top level must be a mapping of section names", file=str(path))
        for section, value in document.items():
            if section in merged:
                raise ConfigError(
                    f"section {section!r} is also defined in {origin[section]}", file=str(path)
                )
            merged[section], origin[section] = value, path
    return merged, origin


def _entry(loc: tuple[Any, ...]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def load_config(config_dir: Path | None = None) -> ProjectConfig:
    config_dir = Path(config_dir) if config_dir else settings.config_dir()
    merged, origin = _read_sections(config_dir)
    known = set(ProjectConfig.model_fields)
    for section, path in origin.items():
        if section not in known:
            raise ConfigError(
                f"unknown section {section!r}; known sections: {', '.join(sorted(known))}",
                file=str(path),
            )
    try:
        config = ProjectConfig.model_validate(merged, context={"config_dir": config_dir})
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = tuple(first["loc"])
        section = loc[0] if loc else None
        path = origin.get(section) if isinstance(section, str) else None
        if path is None:
            path = next(iter(origin.values()))
        message = first["msg"].removeprefix("Value error, ")
        if first["type"] == "missing":
            message = f"required key {loc[-1]!r} is missing"
        elif first["type"] == "extra_forbidden":
            message = f"unknown key {loc[-1]!r}"
        more = f" (and {exc.error_count() - 1} more problems)" if exc.error_count() > 1 else ""
        raise ConfigError(message + more, file=str(path), entry=_entry(loc) or None) from None
    _run_cross_checks(config, origin)
    return config


def _run_cross_checks(config: ProjectConfig, origin: dict[str, Path]) -> None:
    """Checks spanning sections; a check names the entry and the loader adds the file it came from."""
    for check in CROSS_CHECKS:
        try:
            check(config)
        except ConfigError as exc:
            if exc.file is not None:
                raise
            section = (exc.entry or "").split(".")[0].split("[")[0]
            path = origin.get(section)
            raise ConfigError(
                exc.problem, file=str(path) if path else None, entry=exc.entry
            ) from None
