import shutil
from pathlib import Path

import pytest

from braze_assets import settings
from braze_assets.config import ConfigError, load_config


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    target = tmp_path / "config"
    shutil.copytree(settings.DEMO_CONFIG_DIR, target)
    return target


def _edit_sources(config_dir: Path, old: str, new: str) -> None:
    """Replace the first `old` in the copied sources.yaml, which must hold it."""
    path = config_dir / "sources.yaml"
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new, 1))


def test_demo_config_loads():
    config = load_config(settings.DEMO_CONFIG_DIR)
    assert [s.name for s in config.sources] == ["ecommerce", "loyalty", "pos", "email_list"]
    assert config.source("pos").columns["full_name"] == "full_name"


def test_malformed_yaml_names_file_and_line(config_dir: Path):
    (config_dir / "sources.yaml").write_text("sources:\n  - name: x\n    path: [unclosed\n")
    with pytest.raises(ConfigError) as err:
        load_config(config_dir)
    assert "sources.yaml" in str(err.value) and "line" in str(err.value)


def test_unknown_tag_names_entry(config_dir: Path):
    _edit_sources(config_dir, "mobile: phone", "mobile: telephone")
    with pytest.raises(ConfigError) as err:
        load_config(config_dir)
    message = str(err.value)
    assert (
        "sources.yaml" in message and "sources[1].columns" in message and "'telephone'" in message
    )


def test_missing_required_key(config_dir: Path):
    _edit_sources(config_dir, "    primary_key: member_id\n", "")
    with pytest.raises(ConfigError, match=r"sources\[1\].*'primary_key' is missing"):
        load_config(config_dir)


def test_unknown_section_and_unknown_key(config_dir: Path):
    (config_dir / "extra.yaml").write_text("audiense: {}\n")
    with pytest.raises(ConfigError, match=r"extra.yaml.*unknown section 'audiense'"):
        load_config(config_dir)
    (config_dir / "extra.yaml").unlink()
    _edit_sources(config_dir, "    priority: 1\n", "    priorty: 1\n")
    with pytest.raises(ConfigError, match=r"unknown key 'priorty'"):
        load_config(config_dir)


def test_transaction_links_to_unknown_source(config_dir: Path):
    _edit_sources(config_dir, "source: pos", "source: pos_old")
    with pytest.raises(ConfigError, match=r"unknown source 'pos_old'"):
        load_config(config_dir)


def test_section_defined_twice(config_dir: Path):
    (config_dir / "more_sources.yaml").write_text((config_dir / "sources.yaml").read_text())
    with pytest.raises(ConfigError, match="also defined in"):
        load_config(config_dir)


def test_missing_config_dir(tmp_path: Path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope")
