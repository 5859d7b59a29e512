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


def test_unsubscribe_is_never_overwritten_by_an_older_subscribe(tmp_path):
    import datetime as dt

    import duckdb

    from braze_assets.braze.client import BrazeClient
    from braze_assets.lifecycle.consent import refresh_consent_times
    from braze_assets.sandbox import DEFAULT_API_KEY, SandboxServer
    from braze_assets.sync.config import ResolvedSyncSettings
    from braze_assets.sync.runner import sync_destination
    from braze_assets.sync.tables import ensure_tables
    from braze_assets_tests.lifecycle.helpers import email_list, identity_run, put_attributes
    from braze_assets_tests.sync.conftest import DAY1, DAY2, put_snapshot, value

    authority = email_list("email_opt_in")
    con = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    ensure_tables(con)
    customer = identity_run(con, ["email_list:s1"], [], "r1", dt.datetime(2026, 11, 1))[
        "email_list:s1"
    ]
    put_attributes(con, {customer: ("gold", 1, 0.1)})
    con.execute("CREATE TABLE raw_email_list (subscriber_id VARCHAR, updated_at VARCHAR)")

    def authority_updated(at: dt.datetime) -> None:
        con.execute("DELETE FROM raw_email_list")
        con.execute("INSERT INTO raw_email_list VALUES ('s1', ?)", [at.isoformat() + "Z"])
        refresh_consent_times(con, "braze_us", authority)

    def state(day, text):
        put_snapshot(con, day, [value(customer, "email_subscribe", text, billable=False)])

    sandbox = SandboxServer(tmp_path / "sandbox", rate_limit_requests=None).start()
    try:
        with BrazeClient(DEFAULT_API_KEY, sandbox.url) as client:

            def sync(day):
                return sync_destination(
                    con,
                    client,
                    destination="braze_us",
                    identifier_type="external_id",
                    clear_attributes=(),
                    settings=ResolvedSyncSettings(
                        destination="braze_us", update_existing_only=False
                    ),
                    journal_root=tmp_path / "journal",
                    snapshot_date=day,
                )

            state(DAY1, '"unsubscribed"')
            assert sync(DAY1).objects_delivered == 1
            # The authority still holds an opt-in recorded before the unsubscribe: not sent.
            authority_updated(dt.datetime.now(dt.UTC).replace(tzinfo=None) - dt.timedelta(days=30))
            state(DAY2, '"opted_in"')
            stale = sync(DAY2)
            assert stale.diff.objects == 0 and stale.diff.held_back == 1
            assert sandbox.profile(customer)["email_subscribe"] == "unsubscribed"
            # The customer opts in again after the unsubscribe: sent.
            authority_updated(
                dt.datetime.now(dt.UTC).replace(tzinfo=None) + dt.timedelta(minutes=1)
            )
            assert sync(DAY2).objects_delivered == 1
            assert sandbox.profile(customer)["email_subscribe"] == "opted_in"
    finally:
        sandbox.stop()
        con.close()
