"""The consent guard, through the CLI: subscription states only from the declared authority."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from braze_assets.config import load_config
from braze_assets.config.errors import ConfigError
from braze_assets.settings import DEMO_CONFIG_DIR
from braze_assets_tests.conftest import cli_env, run_cli


def config_dir(tmp_path: Path, old: str, new: str, file: str = "sync.yaml") -> Path:
    config = tmp_path / "config"
    shutil.copytree(DEMO_CONFIG_DIR, config)
    text = (config / file).read_text()
    assert old in text
    (config / file).write_text(text.replace(old, new, 1))
    return config


def test_demo_declares_the_email_list_as_consent_authority():
    assert load_config(DEMO_CONFIG_DIR).sync.lifecycle.consent.authority == "email_list"


def test_consent_from_an_undeclared_source_is_refused_with_a_clear_message(tmp_path):
    # The loyalty programme, not the email list, is declared: email_opt_in is not its column.
    config = config_dir(tmp_path, "authority: email_list", "authority: loyalty")
    result = run_cli("demo", env=cli_env(tmp_path, BRAZE_ASSETS_CONFIG_DIR=str(config)))
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    for needle in (
        "destinations.yaml",
        "attribute 'email_subscribe' reads column 'email_opt_in' from source 'email_list'",
        "not the consent authority 'loyalty'",
        "refused",
    ):
        assert needle in result.stderr, result.stderr


def test_consent_is_off_without_an_authority(tmp_path):
    config = config_dir(tmp_path, "authority: email_list", "authority: null")
    with pytest.raises(ConfigError, match="subscription states are off by default"):
        load_config(config)


def test_unknown_authority_is_named(tmp_path):
    config = config_dir(tmp_path, "authority: email_list", "authority: crm")
    with pytest.raises(ConfigError, match="'crm' is not a configured source; known: ecommerce"):
        load_config(config)


def test_consent_derived_from_a_computed_column_is_refused(tmp_path):
    config = config_dir(
        tmp_path,
        'sql: "CASE TRY_CAST(email_opt_in AS BOOLEAN)',
        'sql: "CASE TRY_CAST(email_unsubscribes = 0 AS BOOLEAN)',
        "destinations.yaml",
    )
    with pytest.raises(ConfigError, match="'email_unsubscribes' from no customer source"):
        load_config(config)
