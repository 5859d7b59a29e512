"""The sync core against a fake client: diff ops, payload shapes, state advancement, budget."""

from __future__ import annotations

import pytest

from braze_assets.sync.runner import SyncBlocked
from braze_assets_tests.sync.conftest import (
    DAY1,
    DAY2,
    member_array,
    member_bool,
    put_snapshot,
    sync_us,
    value,
)
from braze_assets_tests.sync.fakes import FakeClient


def run(con, tmp_path, client, *, clear=("tier",), dry_run=False, **settings):
    return sync_us(con, client, tmp_path / "journal", clear=clear, dry_run=dry_run, **settings)


def confirmed(con):
    return sorted(
        con.execute(
            "SELECT identifier, attribute, element, value_json FROM braze_confirmed_state"
        ).fetchall()
    )


BASE = [
    value("u1", "tier", '"gold"'),
    value("u1", "score", "1.5", "float"),
    value("u2", "tier", '"silver"'),
    value("u2", "email_subscribe", '"opted_in"', billable=False),
    member_bool("u1", "in_winback"),
    member_array("u2", "campaigns", "spring"),
]


def test_first_sync_sends_everything_then_nothing(con, tmp_path):
    put_snapshot(con, DAY1, BASE)
    client = FakeClient()
    report = run(con, tmp_path, client)
    assert report.diff.values == 6 and report.diff.objects == 2
    assert report.diff.forecast_data_points == 5  # email_subscribe is free
    assert report.data_points_spent == 5 and report.objects_delivered == 2
    assert client.sent == [
        {
            "external_id": "u1",
            "_update_existing_only": True,
            "in_winback": True,
            "score": 1.5,
            "tier": "gold",
        },
        {
            "external_id": "u2",
            "_update_existing_only": True,
            "campaigns": {"add": ["spring"]},
            "email_subscribe": "opted_in",
            "tier": "silver",
        },
    ]
    assert len(confirmed(con)) == 6
    again = FakeClient()
    report = run(con, tmp_path, again)
    assert report.diff.values == 0 and again.sent == [] and report.data_points_spent == 0


def test_changes_removes_and_leaves(con, tmp_path):
    put_snapshot(con, DAY1, BASE + [value("u3", "nickname", '"x"')])
    run(con, tmp_path, FakeClient())
    put_snapshot(
        con,
        DAY2,
        [
            value("u1", "tier", '"platinum"'),  # changed
            value("u1", "score", "1.5000000001", "float"),  # within tolerance: not sent
            member_array("u2", "campaigns", "summer"),  # spring left, summer joined
            value("u2", "email_subscribe", '"opted_in"', billable=False),
            # u1 left in_winback; u2's tier gone (clear -> null); u3's nickname gone (skip -> untouched)
        ],
    )
    client = FakeClient()
    report = run(con, tmp_path, client, float_tolerance=1e-6)
    d = report.diff
    assert (d.adds, d.changes, d.removes, d.joins, d.leaves) == (0, 1, 1, 1, 2)
    assert client.sent == [
        {
            "external_id": "u1",
            "_update_existing_only": True,
            "in_winback": False,
            "tier": "platinum",
        },
        {
            "external_id": "u2",
            "_update_existing_only": True,
            "campaigns": {"add": ["summer"], "remove": ["spring"]},
            "tier": None,
        },
    ]
    assert report.data_points_spent == 5
    assert confirmed(con) == [
        ("u1", "score", "", "1.5"),
        ("u1", "tier", "", '"platinum"'),
        ("u2", "campaigns", "summer", '"summer"'),
        ("u2", "email_subscribe", "", '"opted_in"'),
        ("u3", "nickname", "", '"x"'),
    ]
    assert run(con, tmp_path, FakeClient(), float_tolerance=1e-6).diff.values == 0


def test_rejected_held_back_until_value_changes_and_failed_retried(con, tmp_path):
    put_snapshot(
        con,
        DAY1,
        [value("u1", "tier", '"bad"'), value("u2", "tier", '"gold"'), value("u3", "tier", '"x"')],
    )
    report = run(con, tmp_path, FakeClient(reject={"u1"}, fail={"u2"}))
    assert (report.objects_delivered, report.objects_rejected, report.objects_not_delivered) == (
        1,
        1,
        1,
    )
    assert report.data_points_spent == 1
    rejections = con.execute(
        "SELECT identifier, attribute, reason FROM braze_sync_rejections"
    ).fetchall()
    assert rejections == [("u1", "tier", "invalid value")]
    results = con.execute(
        "SELECT identifier, status, reason, http_status FROM braze_sync_results ORDER BY identifier"
    ).fetchall()
    assert results == [
        ("u1", "rejected", "invalid value", 201),
        ("u2", "not_delivered", "HTTP 503: unavailable", 201),
        ("u3", "delivered", None, 201),
    ]
    client = FakeClient()
    report = run(con, tmp_path, client)
    assert [o["external_id"] for o in client.sent] == ["u2"] and report.diff.held_back == 1
    put_snapshot(
        con,
        DAY2,
        [value("u1", "tier", '"good"'), value("u2", "tier", '"gold"'), value("u3", "tier", '"x"')],
    )
    client = FakeClient()
    run(con, tmp_path, client)
    assert client.sent == [{"external_id": "u1", "_update_existing_only": True, "tier": "good"}]
    assert con.execute("SELECT count(*) FROM braze_sync_rejections").fetchone()[0] == 0


def test_budget_stops_and_override_sends(con, tmp_path):
    put_snapshot(con, DAY1, BASE)
    client = FakeClient()
    with pytest.raises(SyncBlocked, match=r"would spend 5 data points .* over the budget of 4"):
        run(con, tmp_path, client, data_point_budget=4)
    assert client.sent == []
    status = con.execute("SELECT status, forecast_data_points FROM braze_sync_runs").fetchall()
    assert status == [("budget_exceeded", 5)]
    report = run(con, tmp_path, client, data_point_budget=4, override_budget=True)
    assert report.data_points_spent == 5


def test_dry_run_sends_nothing(con, tmp_path):
    put_snapshot(con, DAY1, BASE)
    client = FakeClient()
    report = run(con, tmp_path, client, dry_run=True, dry_run_sample_size=1, data_point_budget=1)
    assert client.calls == 0 and report.status == "dry_run" and report.over_budget
    assert report.samples == [
        '{"external_id":"u1","_update_existing_only":true,"in_winback":true,"score":1.5,"tier":"gold"}'
    ]
    assert (report.diff.adds, report.diff.joins, report.diff.forecast_data_points) == (4, 2, 5)
    assert confirmed(con) == []


def test_full_resync_and_max_objects(con, tmp_path):
    put_snapshot(con, DAY1, BASE)
    report = run(con, tmp_path, FakeClient(), max_objects_per_run=1)
    assert report.diff.objects == 1 and report.diff.deferred == 3
    run(con, tmp_path, FakeClient())
    client = FakeClient()
    report = run(con, tmp_path, client, full_resync=True)
    assert report.diff.values == 6 and len(client.sent) == 2
