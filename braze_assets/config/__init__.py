"""Project configuration: a directory of YAML files, one per section, validated on load."""

from braze_assets.config.errors import ConfigError
from braze_assets.config.loader import load_config
from braze_assets.config.model import ProjectConfig

__all__ = ["ConfigError", "ProjectConfig", "load_config"]
