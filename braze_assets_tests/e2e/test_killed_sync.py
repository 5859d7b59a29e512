"""The scenario of issue 13: `braze-assets demo` pointed at a Braze endpoint that allows
10 requests/s, killed with SIGKILL (its whole process group) after the sync has sent 8 batches,
then run again. Every profile must arrive, and fewer than 8 batches' worth of values be resent.

Before the fix the rerun waited forever for the pool slot the killed run still held.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import threading
import time
from collections import Counter

import duckdb
import pytest

from braze_assets.sandbox import SandboxServer
from braze_assets.sandbox.api import ALL_PERMISSIONS
from braze_assets_tests.conftest import cli_env, run_cli, start_cli

# Kill and fault scenarios over whole runs take minutes: outside the default run (`./run test -m slow`).
pytestmark = pytest.mark.slow

KEY = "rate-limited-key"
BATCH = 75  # objects per /users/track request, Braze's limit and the sync's batch size
KILL_AFTER = 8
RERUN_TIMEOUT = 300
# As in the issue: 2,000 people give about 1,300 profiles, 18 batches.
PEOPLE = "2000"


def _accepted_batches(sandbox: SandboxServer) -> int:
    return sum(
        1
        for r in sandbox.request_log()
        if r["path"] == "/users/track" and r["status"] == 201 and r["objects"]
    )


def _intended_confirmed_rejected(data_dir):
    """The latest snapshot's values and the confirmed state, as (identifier, attribute, element,
    kind, value_json) rows, and the (identifier, attribute, element) keys Braze rejected."""
    con = duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True)
    columns = "identifier, attribute, element, kind, value_json"
    try:
        intended = con.execute(
            f"SELECT {columns} FROM attribute_snapshots "
            "WHERE snapshot_date = (SELECT max(snapshot_date) FROM attribute_snapshots)"
        ).fetchall()
        confirmed = con.execute(f"SELECT {columns} FROM braze_confirmed_state").fetchall()
        rejected = con.execute(
            "SELECT identifier, attribute, element FROM braze_sync_rejections"
        ).fetchall()
        # The demo's second act merges one profile into another and deletes one: Braze copies the
        # merged profile's values to the kept one, and those are confirmed without being intended.
        touched = {
            r[0]
            for r in con.execute(
                "SELECT merge_identifier FROM braze_profile_merges "
                "UNION SELECT keep_identifier FROM braze_profile_merges "
                "UNION SELECT identifier FROM braze_profile_deletions"
            ).fetchall()
        }
    finally:
        con.close()

    def kept(rows):
        return {r for r in rows if r[0] not in touched}

    return kept(intended), kept(confirmed), kept(rejected)


def _order_events(data_dir, sandbox: SandboxServer):
    """(times each order event was received, keyed by its whole payload; the event log's rows
    by status). Braze does not deduplicate events: one received twice is a duplicate order."""
    received = Counter(
        json.dumps(event, sort_keys=True)
        for event in sandbox.events()
        if event["array"] in ("events", "purchases")
    )
    con = duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True)
    try:
        statuses = dict(
            con.execute("SELECT status, count(*) FROM braze_event_log GROUP BY ALL").fetchall()
        )
    finally:
        con.close()
    return received, statuses


def _profile_value(profile: dict, attribute: str):
    if attribute in profile.get("custom_attributes", {}):
        return profile["custom_attributes"][attribute]
    return profile.get(attribute)


def _order_events_received(sandbox: SandboxServer) -> int:
    return sum(1 for e in sandbox.events() if e["array"] in ("events", "purchases"))


# The kill point, and one while the day's order events (packed into the last requests
# after the attributes) are on the wire: the rerun must settle those exactly once.
@pytest.mark.parametrize("kill_at", ["8 batches", "first order event"])
def test_demo_killed_after_8_batches_at_10_requests_per_second_resends_less_than_8(
    tmp_path, kill_at
):
    def reached() -> bool:
        if kill_at == "8 batches":
            return _accepted_batches(sandbox) >= KILL_AFTER
        return _order_events_received(sandbox) > 0

    data_dir = tmp_path / "data"
    data_dir.mkdir()
    generated = run_cli("generate", "--people", PEOPLE, env=cli_env(data_dir))
    assert generated.returncode == 0, generated.stdout + generated.stderr
    with (data_dir / "braze_workspace_users.csv").open(newline="", encoding="utf-8") as handle:
        workspace_users = [row["external_id"] for row in csv.DictReader(handle)]

    with SandboxServer(
        tmp_path / "braze_state",
        api_keys={KEY: set(ALL_PERMISSIONS)},
        rate_limit_requests=10,
        rate_limit_period_s=1.0,
    ) as sandbox:
        sandbox.seed_users(workspace_users)
        env = cli_env(data_dir, BRAZE_API_KEY=KEY, BRAZE_REST_ENDPOINT=sandbox.url)
        demo = start_cli("demo", env=env)
        output: list[str] = []
        reader = threading.Thread(target=lambda: output.extend(demo.stdout), daemon=True)
        reader.start()
        try:
            deadline = time.monotonic() + RERUN_TIMEOUT
            while not reached():
                if demo.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"the demo ended before {kill_at}:\n" + "".join(output))
                time.sleep(0.002)
        finally:
            os.killpg(demo.pid, signal.SIGKILL)
            demo.wait(timeout=30)
        reader.join(timeout=10)
        assert "running braze_daily_sync" in "".join(output)
        before_rerun = sandbox.received_by_user()
        assert sum(before_rerun.values()) >= KILL_AFTER * BATCH

        try:
            rerun = run_cli("demo", env=env, timeout=RERUN_TIMEOUT)
        except subprocess.TimeoutExpired as exc:
            pytest.fail(f"the rerun hung for {RERUN_TIMEOUT} s:\n{exc.stdout}\n{exc.stderr}")
        assert rerun.returncode == 0, rerun.stdout + rerun.stderr
        received = sandbox.received_by_user()
        events, event_statuses = _order_events(data_dir, sandbox)
        profiles = {p["external_id"]: p for p in sandbox.profiles() if p.get("external_id")}

    intended, confirmed, rejected = _intended_confirmed_rejected(data_dir)
    # Everything intended is confirmed, except values Braze rejected (here: users that do not
    # exist in the workspace, sent with _update_existing_only), and nothing else is.
    assert confirmed <= intended
    unconfirmed = {row[:3] for row in intended - confirmed}
    assert unconfirmed <= rejected, sorted(unconfirmed - rejected)[:10]
    delivered = {row[0] for row in confirmed}
    # Every profile arrives, with the values the warehouse holds as confirmed.
    assert delivered <= set(received), sorted(delivered - set(received))[:10]
    wrong = [
        (identifier, attribute, value_json, _profile_value(profiles[identifier], attribute))
        for identifier, attribute, _element, kind, value_json in confirmed
        if kind == "value"
        and _profile_value(profiles[identifier], attribute) != json.loads(value_json)
    ]
    assert not wrong, wrong[:5]
    if kill_at == "8 batches":
        # The kill fell inside the sync: some profiles had not been sent yet.
        assert sum(before_rerun.values()) < len(delivered), (len(delivered), before_rerun)
    resent = sum(count - 1 for count in received.values() if count > 1)
    print(
        f"profiles {len(delivered)}, received before the kill {sum(before_rerun.values())}, resent {resent}"
    )
    assert resent < KILL_AFTER * BATCH, f"{resent} values resent"
    # The day's orders ride in the same requests: each is sent exactly once across the kill,
    # and every one Braze holds is confirmed (none left in flight or uncertain).
    print(f"order events received {sum(events.values())}, log {event_statuses}")
    assert events, "the demo sent no order events"
    duplicated = [(event, n) for event, n in events.items() if n > 1]
    assert not duplicated, duplicated[:3]
    assert event_statuses.get("confirmed", 0) == len(events), event_statuses
    assert not {"in_flight", "uncertain"} & set(event_statuses), event_statuses
