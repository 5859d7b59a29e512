"""Subscription groups from the consent authority, over HTTP against the sandbox: off by default,
only from the declared authority, and an unsubscribe never overwritten by an older subscribe."""

from __future__ import annotations

import datetime as dt

import pytest

from braze_assets.braze.client import BrazeClient
from braze_assets.config import load_config
from braze_assets.config.errors import ConfigError
from braze_assets.lifecycle.config import SubscriptionGroupConfig
from braze_assets.sandbox import DEFAULT_API_KEY
from braze_assets_tests.lifecycle.helpers import email_list, lifecycle, put_attributes
from braze_assets_tests.lifecycle.test_consent import config_dir

pytestmark = pytest.mark.integration
NEWS = "9b0e0c2a-news-letter"
T1, T2, T3 = (dt.datetime(2026, 11, d, 9) for d in (1, 2, 3))
AUTHORITY = email_list("news_opt_in")
GROUPS = [SubscriptionGroupConfig(group_id=NEWS, column="news_opt_in")]


def authority_rows(con, rows: list[tuple[str, str, dt.datetime]]) -> None:
    """(subscriber id = customer id, news_opt_in, updated_at) records of the authority."""
    con.execute(
        "CREATE OR REPLACE TABLE raw_email_list (subscriber_id VARCHAR, news_opt_in VARCHAR, updated_at VARCHAR)"
    )
    con.executemany(
        "INSERT INTO raw_email_list VALUES (?, ?, ?)",
        [(pk, value, at.isoformat() + "Z") for pk, value, at in rows],
    )
    con.execute(
        "CREATE OR REPLACE TABLE unified_coalesced AS SELECT 'email_list' AS source, "
        "subscriber_id AS source_pk, subscriber_id AS customer_id FROM raw_email_list"
    )


def run(con, client, run_id: str, groups=GROUPS, authority=AUTHORITY):
    return lifecycle(
        con, client, mode="off", run=run_id, consent_source=authority, subscription_groups=groups
    ).subscriptions


def group_state(sandbox, customer: str):
    return (sandbox.profile(customer).get("subscription_groups") or {}).get(NEWS)


def test_unsubscribe_is_never_overwritten_by_an_older_subscribe(con, sandbox):
    put_attributes(con, {"c1": ("gold", 1, 0.1), "c2": ("silver", 2, 0.2)})
    sandbox.seed_users(["c1", "c2"])
    with BrazeClient(DEFAULT_API_KEY, sandbox.url) as client:
        authority_rows(con, [("c1", "yes", T1), ("c2", "no", T1)])
        first = run(con, client, "r1")
        assert (first.planned, first.sent, first.held_back) == (2, 2, 0)
        assert (group_state(sandbox, "c1"), group_state(sandbox, "c2")) == (
            "subscribed",
            "unsubscribed",
        )
        assert sandbox.data_points_spent() == 0
        assert run(con, client, "r2").planned == 0  # nothing changed, nothing sent

        authority_rows(con, [("c1", "unsubscribed", T2), ("c2", "no", T1)])
        assert run(con, client, "r3").sent == 1
        assert group_state(sandbox, "c1") == "unsubscribed"
        # A stale record (a restore, a late import) says subscribed as of before the unsubscribe.
        authority_rows(con, [("c1", "true", T1), ("c2", "no", T1)])
        stale = run(con, client, "r4")
        assert (stale.planned, stale.sent, stale.held_back) == (0, 0, 1)
        assert group_state(sandbox, "c1") == "unsubscribed"
        # The customer subscribes again after the unsubscribe: sent.
        authority_rows(con, [("c1", "1", T3), ("c2", "maybe", T3)])
        again = run(con, client, "r5")
        assert (again.sent, again.held_back, again.unreadable) == (1, 0, 1)
        assert group_state(sandbox, "c1") == "subscribed"
        assert group_state(sandbox, "c2") == "unsubscribed"  # an unreadable value changes nothing


def test_subscription_groups_are_off_without_groups_or_an_authority(con, sandbox):
    put_attributes(con, {"c1": ("gold", 1, 0.1)})
    sandbox.seed_users(["c1"])
    authority_rows(con, [("c1", "yes", T1)])
    with BrazeClient(DEFAULT_API_KEY, sandbox.url) as client:
        assert run(con, client, "r1", groups=[]) is None
        assert run(con, client, "r2", authority=None) is None
    assert group_state(sandbox, "c1") is None


def test_subscription_groups_need_the_declared_authority(tmp_path):
    groups = "\n      subscription_groups: [{group_id: news, column: email_opt_in}]"
    config = config_dir(tmp_path, "authority: email_list", "authority: email_list" + groups)
    assert load_config(config).sync.lifecycle.consent.subscription_groups[0].group_id == "news"
    wrong = config_dir(
        tmp_path / "wrong",
        "authority: email_list",
        "authority: email_list\n      subscription_groups: [{group_id: news, column: loyalty_tier}]",
    )
    with pytest.raises(
        ConfigError,
        match="column 'loyalty_tier' of subscription group 'news' is not a column of the consent authority 'email_list'",
    ):
        load_config(wrong)


def test_subscription_groups_without_an_authority_are_refused():
    from braze_assets.lifecycle.consent import subscription_group_problem

    entry, why = subscription_group_problem([AUTHORITY], None, GROUPS)
    assert entry == "sync.lifecycle.consent.subscription_groups"
    assert "sent only from the consent authority" in why
    assert subscription_group_problem([AUTHORITY], None, []) is None


def test_an_unsubscribe_made_in_braze_is_not_overwritten(con, sandbox):
    put_attributes(con, {"c1": ("gold", 1, 0.1)})
    sandbox.seed_users(["c1"])
    with BrazeClient(DEFAULT_API_KEY, sandbox.url) as client:
        # The customer unsubscribed through a Braze email's link; the authority still says yes.
        client.set_subscription_states(NEWS, "unsubscribed", ["c1"])
        authority_rows(con, [("c1", "yes", T1)])
        first = run(con, client, "r1")
        assert (first.sent, first.held_back) == (0, 1)
        assert group_state(sandbox, "c1") == "unsubscribed"
        assert run(con, client, "r2").sent == 0  # still not, nothing newer from the authority
        # The customer subscribes again at the authority, after the unsubscribe was seen.
        later = dt.datetime.now(dt.UTC).replace(tzinfo=None) + dt.timedelta(minutes=5)
        authority_rows(con, [("c1", "yes", later)])
        assert run(con, client, "r3").sent == 1
        assert group_state(sandbox, "c1") == "subscribed"
