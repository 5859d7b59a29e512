"""The client against the real sandbox over HTTP on an ephemeral port."""

import logging
import threading
from collections import Counter

import pytest

from braze_assets.braze.client import DELIVERED, NOT_DELIVERED, REJECTED, BrazeClient, BrazeError
from braze_assets.sandbox import FaultConfig, SandboxServer
from braze_assets_tests.braze.conftest import NO_TRACK_KEY, SECRET, attrs

pytestmark = pytest.mark.integration


def fast_client(url: str, key: str = SECRET, **kwargs) -> BrazeClient:
    settings = dict(backoff_base_s=0.02, backoff_max_s=0.2, retry_budget_s=20.0, timeout_s=5.0)
    settings.update(kwargs)
    return BrazeClient(key, url, **settings)


def assert_every_row_reported(result, n):
    assert len(result.outcomes) == n
    assert [o.index for o in result.outcomes] == list(range(n))
    assert result.delivered + result.rejected + result.not_delivered == n


def test_delivers_in_batches_and_calls_on_batch_for_every_row(sandbox):
    seen: list[int] = []
    with fast_client(sandbox.url, objects_per_request=50) as client:
        result = client.track_attributes(attrs(1234), on_batch=lambda b: seen.extend(b.indices))
    assert_every_row_reported(result, 1234)
    assert result.delivered == 1234 and result.ok
    assert sorted(seen) == list(range(1234))
    assert len(result.batches) == 25 and all(b.http_status == 201 for b in result.batches)
    assert sandbox.stats()["profiles"] == 1234
    assert sandbox.profile("user-77")["first_name"] == "Ann77"


def test_limiter_never_exceeds_the_configured_rate_across_threads_and_clients(tmp_path):
    limit, period = 12, 0.5
    with SandboxServer(
        tmp_path,
        api_keys={SECRET: {"users.track"}},
        rate_limit_requests=limit,
        rate_limit_period_s=period,
    ) as sandbox:
        clients = [
            fast_client(
                sandbox.url,
                objects_per_request=5,
                rate_limit_requests=limit,
                rate_limit_period_s=period,
                concurrency=6,
            )
            for _ in range(2)
        ]
        results = []

        def run(client, start):
            results.append(client.track_attributes(attrs(110, start)))

        threads = [threading.Thread(target=run, args=(c, i * 1000)) for i, c in enumerate(clients)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        for client in clients:
            client.close()
        log = sandbox.request_log()
    assert all(r.delivered == 110 for r in results)
    per_window = Counter(int(entry["time"] // period) for entry in log)
    assert len(log) == 44
    assert max(per_window.values()) <= limit
    assert not [e for e in log if e["status"] == 429]


def test_429_5xx_and_dropped_connections_are_retried_until_delivered(sandbox):
    sandbox.set_faults(FaultConfig(next_statuses=[429, 500, "drop", 503, 502, 429, "drop"], seed=1))
    with fast_client(sandbox.url, objects_per_request=10, concurrency=4) as client:
        result = client.track_attributes(attrs(200))
    assert result.delivered == 200
    assert result.retries == 7 and result.rate_limited == 2 and result.server_errors == 3
    assert result.transport_errors == 2
    assert sum(b.attempts for b in result.batches) == 27


def test_random_faults_every_row_is_delivered_or_reported(sandbox):
    sandbox.set_faults(
        FaultConfig(
            share_429=0.15, share_5xx=0.15, drop_share=0.05, reject_share=0.02, latency_ms=1, seed=7
        )
    )
    with fast_client(sandbox.url, objects_per_request=20) as client:
        result = client.track_attributes(attrs(2000))
    assert_every_row_reported(result, 2000)
    assert result.not_delivered == 0 and result.retries > 0
    assert result.rejected > 0
    assert all(
        o.reason == "Sandbox fault injection: object rejected"
        for o in result.outcomes
        if o.status == REJECTED
    )
    profiles = {p["external_id"] for p in sandbox.profiles()}
    delivered = {f"user-{o.index}" for o in result.outcomes if o.status == DELIVERED}
    assert profiles == delivered


def test_429_storm_honours_the_reset_header(sandbox, caplog):
    sandbox.set_faults(FaultConfig(storm_429_s=0.6))
    with caplog.at_level(logging.INFO), fast_client(sandbox.url, objects_per_request=10) as client:
        result = client.track_attributes(attrs(100))
    assert result.delivered == 100
    # Waiting for X-RateLimit-Reset (not hammering): few 429s despite 8 threads.
    assert 1 <= result.rate_limited <= 16
    # The wait is logged with its reason, in the user's terms.
    waits = [r.getMessage() for r in caplog.records if "waiting" in r.getMessage()]
    assert waits and "429" in waits[0]


def test_retry_after_is_honoured(sandbox):
    sandbox.set_faults(FaultConfig(next_statuses=[503], retry_after_s=0.3))
    with fast_client(sandbox.url, concurrency=1) as client:
        result = client.track_attributes(attrs(5))
    log = sandbox.request_log()
    assert result.delivered == 5
    assert log[1]["time"] - log[0]["time"] >= 0.29


def test_retry_budget_exhausted_reports_every_row_not_delivered(sandbox):
    sandbox.set_faults(FaultConfig(share_5xx=1.0, status_5xx=503))
    batches = []
    with fast_client(sandbox.url, objects_per_request=10, retry_budget_s=0.4) as client:
        result = client.track_attributes(attrs(300), on_batch=batches.append)
    assert_every_row_reported(result, 300)
    assert result.not_delivered == 300
    assert all(o.status == NOT_DELIVERED and "503" in o.reason for o in result.outcomes)
    assert sorted(i for b in batches for i in b.indices) == list(range(300))


def test_per_object_errors_land_on_the_right_rows(sandbox):
    sandbox.seed_users(["known"])
    objects = attrs(8)
    objects[1]["dob"] = "1990-02-30"
    objects[3]["gender"] = "male"
    objects[4] = {"external_id": "ghost", "_update_existing_only": True, "x": 1}
    objects[5] = {"external_id": "known", "_update_existing_only": True, "x": 1}
    objects[6]["country"] = "Germany"
    objects[7]["nickname"] = "n" * 256
    with fast_client(sandbox.url, objects_per_request=3) as client:
        result = client.track_attributes(objects)
    status = [o.status for o in result.outcomes]
    assert status == [
        DELIVERED,
        REJECTED,
        DELIVERED,
        REJECTED,
        REJECTED,
        DELIVERED,
        REJECTED,
        REJECTED,
    ]
    reasons = [o.reason for o in result.outcomes]
    assert "dob" in reasons[1] and "gender" in reasons[3] and "ghost" in reasons[4]
    assert "country" in reasons[6] and "255" in reasons[7]
    assert sandbox.profile("ghost") is None and sandbox.profile("known")["custom_attributes"] == {
        "x": 1
    }


def test_oversized_requests_are_split_and_single_huge_rows_reported(sandbox):
    objects = [
        {"external_id": f"u{i}", **{f"a{j}": "x" * 200 for j in range(20)}} for i in range(30)
    ]
    objects.append({"external_id": "huge", **{f"b{j}": "y" * 250 for j in range(200)}})
    with fast_client(sandbox.url, objects_per_request=75, max_request_bytes=20_000) as client:
        result = client.track_attributes(objects)
    assert result.split_requests > 0 and result.delivered == 30
    assert result.outcomes[30].status == NOT_DELIVERED and "bytes" in result.outcomes[30].reason
    assert all(e["objects"] <= 5 for e in sandbox.request_log())


def test_401_stops_the_run_with_instance_and_endpoint(sandbox):
    wrong = "sk-test-WRONG-99999999999999"
    with fast_client(sandbox.url, key=wrong, instance_label="US-03") as client:
        with pytest.raises(BrazeError) as err:
            client.track_attributes(attrs(5000))
    message = str(err.value)
    assert "401" in message and f"US-03 = {sandbox.url}" in message and "key" in message
    assert wrong not in message
    partial = err.value.result
    assert partial.delivered == 0 and partial.not_delivered == 5000
    assert len(sandbox.request_log()) <= 8  # stopped after the first answers, not 67 batches


def test_403_names_the_missing_permission(sandbox):
    with fast_client(sandbox.url, key=NO_TRACK_KEY) as client:
        with pytest.raises(BrazeError, match="lacks the users.track permission"):
            client.track_attributes(attrs(3))
        assert client.export_ids(["nobody"]) == []


def test_404_says_the_endpoint_is_wrong(sandbox):
    with fast_client(sandbox.url + "/api/v1") as client:
        with pytest.raises(BrazeError, match="404.*REST endpoint looks wrong"):
            client.track_attributes(attrs(3))


def test_batch_limit_400_says_lower_the_setting(sandbox):
    with fast_client(sandbox.url, objects_per_request=100) as client:
        with pytest.raises(BrazeError, match="Lower objects_per_request"):
            client.track_attributes(attrs(150))


def test_key_never_in_logs_errors_or_repr(sandbox, caplog):
    caplog.set_level(logging.DEBUG)
    sandbox.set_faults(FaultConfig(next_statuses=[429, 500, "drop"]))
    with fast_client(sandbox.url) as client:
        client.track_attributes(attrs(100))
        assert SECRET not in repr(client) and SECRET not in str(client)
    wrong = "sk-test-ALSO-SECRET-5555555555"
    with fast_client(sandbox.url, key=wrong) as client:
        with pytest.raises(BrazeError) as err:
            client.track_attributes(attrs(10))
        assert wrong not in str(err.value) and wrong not in repr(err.value.result)
    dead = fast_client("http://127.0.0.1:9", retry_budget_s=0.2)
    result = dead.track_attributes(attrs(3))
    dead.close()
    assert result.not_delivered == 3
    assert SECRET not in result.outcomes[0].reason
    assert caplog.records, "the client should have logged retries"
    for secret in (SECRET, wrong):
        assert secret not in caplog.text
        assert secret not in str(sandbox.request_log()) and secret not in str(sandbox.stats())


def test_export_and_delete(sandbox):
    with fast_client(sandbox.url) as client:
        client.track_attributes(attrs(120))
        users = client.export_ids(
            [f"user-{i}" for i in range(0, 120, 2)] + ["nobody"], ["first_name"]
        )
        assert len(users) == 60 and users[0] == {"external_id": "user-0", "first_name": "Ann0"}
        assert client.delete_users([f"user-{i}" for i in range(60)]) == 60
    assert sandbox.stats()["profiles"] == 60
    exports = [e for e in sandbox.request_log() if e["path"] == "/users/export/ids"]
    assert [e["objects"] for e in exports] == [50, 11]


def test_requests_reuse_keep_alive_connections(sandbox):
    with fast_client(sandbox.url, objects_per_request=5, concurrency=4) as client:
        result = client.track_attributes(attrs(500))
    assert result.requests == 100
    assert sandbox.stats()["connections_accepted"] <= 4


def test_connections_closed_by_a_restarted_server_are_reopened_without_a_failed_attempt(tmp_path):
    first = SandboxServer(
        tmp_path, api_keys={SECRET: {"users.track"}}, rate_limit_requests=None
    ).start()
    port = first.port
    client = fast_client(first.url, concurrency=2)
    assert client.track_attributes(attrs(200)).delivered == 200
    first.stop()
    with SandboxServer(
        tmp_path, port=port, api_keys={SECRET: {"users.track"}}, rate_limit_requests=None
    ) as second:
        result = client.track_attributes(attrs(200, start=200))
    client.close()
    assert result.delivered == 200 and result.transport_errors == 0 and result.retries == 0
    assert second.stats()["profiles"] == 400


def test_empty_input_and_on_batch_failure_stops_the_run(sandbox):
    with fast_client(sandbox.url, objects_per_request=10, concurrency=2) as client:
        empty = client.track_attributes([])
        assert empty.outcomes == [] and empty.requests == 0

        def persist(batch):
            if batch.batch_no == 3:
                raise OSError("disk full")

        with pytest.raises(OSError, match="disk full"):
            client.track_attributes(attrs(500), on_batch=persist)
    assert len(sandbox.request_log()) < 50


def test_ndjson_rows_are_sent_as_is(sandbox):
    rows = [b'{"external_id":"j1","first_name":"Jo"}', b'{"external_id":"j2","dob":"nope"}']
    with fast_client(sandbox.url) as client:
        result = client.track_attributes(rows)
    assert [o.status for o in result.outcomes] == [DELIVERED, REJECTED]
    assert sandbox.profile("j1")["first_name"] == "Jo"
