"""The sandbox over real HTTP: Braze's responses, limits, faults, introspection, persistence."""

import math
import socket
import struct
import time

import pytest
import requests

from braze_assets.sandbox import FaultConfig, SandboxServer
from braze_assets_tests.sandbox.conftest import KEY, LIMITED_KEY

pytestmark = pytest.mark.integration


def test_track_201_with_processed_counts(post, sandbox):
    reply = post(
        "/users/track",
        {
            "attributes": [
                {"external_id": "a", "first_name": "Ann"},
                {"external_id": "b", "dob": "bad"},
            ],
            "events": [{"external_id": "a", "name": "x", "time": "2024-01-01T00:00:00Z"}],
        },
    )
    assert reply.status_code == 201
    body = reply.json()
    assert (
        body["message"] == "success"
        and body["attributes_processed"] == 1
        and body["events_processed"] == 1
    )
    assert body["errors"] == [
        {"type": "Invalid dob 'bad': use YYYY-MM-DD", "input_array": "attributes", "index": 1}
    ]
    assert sandbox.profile("a")["first_name"] == "Ann" and sandbox.profile("b") is None


def test_received_counts_accepted_attribute_objects_per_user(post, sandbox):
    """What the kill tests count resends with: accepted objects per user, rejected ones not."""
    body = {
        "attributes": [
            {"external_id": "a", "first_name": "Ann"},
            {
                "user_alias": {"alias_name": "n1", "alias_label": "crm"},
                "_update_existing_only": False,
                "first_name": "Al",
            },
            {"external_id": "b", "dob": "bad"},
        ]
    }
    assert post("/users/track", body).status_code == 201
    assert post("/users/track", {"attributes": body["attributes"][:1]}).status_code == 201
    expected = {"a": 2, "alias:crm:n1": 1}
    assert sandbox.received_by_user() == expected
    assert requests.get(sandbox.url + "/_sandbox/received").json() == {"received": expected}
    sandbox.reset()
    assert sandbox.received_by_user() == {}


def test_auth_and_permissions(post):
    assert post("/users/track", {"attributes": []}, key=None).status_code == 401
    wrong = post("/users/track", {"attributes": []}, key="nope")
    assert wrong.status_code == 401 and "nope" not in wrong.text
    forbidden = post("/users/track", {"attributes": []}, key=LIMITED_KEY)
    assert forbidden.status_code == 403 and "users.track" in forbidden.json()["message"]
    assert post("/users/export/ids", {"external_ids": []}, key=LIMITED_KEY).status_code == 201
    assert post("/users/nothing", {}).status_code == 404


def test_batch_limit_size_limit_and_syntax(post):
    many = [{"external_id": str(i)} for i in range(76)]
    reply = post("/users/track", {"attributes": many})
    assert reply.status_code == 400 and reply.json()["message"] == "Max Input Length Exceeded"
    split = post("/users/track", {"attributes": many[:50], "events": [{"external_id": "1"}] * 26})
    assert split.status_code == 400
    big = post(
        "/users/track",
        {"attributes": [{"external_id": "x", "a": "y" * 255}] * 2, "pad": "z" * (4 * 1024 * 1024)},
    )
    assert big.status_code == 413
    assert post("/users/track", data=b"{not json").status_code == 400
    assert post("/users/track", {"attributes": {"external_id": "a"}}).status_code == 400


def test_per_array_limit_for_legacy_accounts(tmp_path):
    with SandboxServer(None, rate_limit_requests=None, per_array_limit=True) as sb:
        body = {
            "attributes": [{"external_id": str(i)} for i in range(75)],
            "events": [{"external_id": "1", "name": "e", "time": "2024-01-01"}] * 75,
        }
        reply = requests.post(
            sb.url + "/users/track", json=body, headers={"Authorization": "Bearer sandbox-key"}
        )
    assert reply.status_code == 201


def test_update_existing_only_null_removes_and_array_ops(post, sandbox):
    sandbox.seed_users(["old"])
    post(
        "/users/track",
        {
            "attributes": [
                {
                    "external_id": "old",
                    "tags": ["a", "b"],
                    "city": "Rome",
                    "visits": 1,
                    "pet": {"name": "Rex"},
                },
            ]
        },
    )
    reply = post(
        "/users/track",
        {
            "attributes": [
                {
                    "external_id": "old",
                    "_update_existing_only": True,
                    "tags": {"add": ["c"], "remove": ["a"]},
                    "city": None,
                    "visits": {"inc": 2},
                    "pet": {"age": 3},
                    "_merge_objects": True,
                },
                {"external_id": "new", "_update_existing_only": True, "city": "Oslo"},
            ]
        },
    ).json()
    assert reply["attributes_processed"] == 1
    assert (
        reply["errors"][0]["index"] == 1 and "_update_existing_only" in reply["errors"][0]["type"]
    )
    custom = sandbox.profile("old")["custom_attributes"]
    assert custom == {"tags": ["b", "c"], "visits": 3, "pet": {"name": "Rex", "age": 3}}
    assert sandbox.profile("new") is None


def test_data_points_billable_only(post, sandbox):
    post(
        "/users/track",
        {
            "attributes": [
                {
                    "external_id": "a",
                    "first_name": "Ann",
                    "email_subscribe": "opted_in",
                    "tags": {"add": ["x", "y"]},
                },
                {"external_id": "b", "dob": "bad", "first_name": "B"},  # rejected: not billed
            ]
        },
    )
    post(
        "/users/track", {"attributes": [{"external_id": "a", "first_name": "Ann"}]}
    )  # unchanged still bills
    points = sandbox.data_points()
    assert points == {"total": 4, "by_attribute": {"first_name": 2, "tags": 2}}
    assert sandbox.data_points_spent() == 4


def test_fixed_window_rate_limit_headers_and_429(tmp_path):
    with SandboxServer(None, rate_limit_requests=3, rate_limit_period_s=1.0) as sb:
        session = requests.Session()
        # Start early in a window so all four requests share it.
        time.sleep(math.ceil(time.time()) - time.time() + 0.01)
        window_end = math.floor(time.time()) + 1
        replies = [
            session.post(
                sb.url + "/users/track",
                json={"attributes": []},
                headers={"Authorization": "Bearer sandbox-key"},
            )
            for _ in range(4)
        ]
    assert [r.status_code for r in replies] == [201, 201, 201, 429]
    assert [r.headers["X-RateLimit-Remaining"] for r in replies] == ["2", "1", "0", "0"]
    assert all(r.headers["X-RateLimit-Limit"] == "3" for r in replies)
    assert {r.headers["X-RateLimit-Reset"] for r in replies} == {str(window_end)}


def test_faults_switch_on_over_http(sandbox, post):
    reply = requests.post(
        sandbox.url + "/_sandbox/faults", json={"next_statuses": [503, "drop"], "retry_after_s": 1}
    )
    assert reply.status_code == 200 and reply.json()["next_statuses"] == [503, "drop"]
    first = post("/users/track", {"attributes": []})
    assert first.status_code == 503 and first.headers["Retry-After"] == "1"
    with pytest.raises(requests.ConnectionError):
        post("/users/track", {"attributes": []})
    assert post("/users/track", {"attributes": []}).status_code == 201
    bad = requests.post(sandbox.url + "/_sandbox/faults", json={"share_5xx": 2})
    assert bad.status_code == 400 and "share_5xx" in bad.text
    assert requests.post(sandbox.url + "/_sandbox/faults", json={"bogus": 1}).status_code == 400
    storm = requests.post(sandbox.url + "/_sandbox/faults", json={"storm_429_s": 30}).json()
    assert storm["storm_remaining_s"] > 25
    limited = post("/users/track", {"attributes": []})
    assert limited.status_code == 429 and limited.headers["X-RateLimit-Remaining"] == "0"
    assert int(limited.headers["X-RateLimit-Reset"]) >= time.time() + 25
    requests.post(sandbox.url + "/_sandbox/faults", json={})
    assert post("/users/track", {"attributes": []}).status_code == 201


def test_injected_rejections_and_latency(sandbox, post):
    sandbox.set_faults(FaultConfig(reject_external_ids=["bad"], latency_ms=50))
    started = time.perf_counter()
    body = post(
        "/users/track", {"attributes": [{"external_id": "ok"}, {"external_id": "bad"}]}
    ).json()
    assert time.perf_counter() - started >= 0.05
    assert body["attributes_processed"] == 1 and body["errors"][0]["index"] == 1


def test_introspection_endpoints(sandbox, post):
    post("/users/track", {"attributes": [{"external_id": "a", "first_name": "Ann"}]})
    base = sandbox.url + "/_sandbox"
    assert requests.get(base + "/profiles").json()["profiles"][0]["external_id"] == "a"
    assert requests.get(base + "/profiles/a").json()["first_name"] == "Ann"
    assert requests.get(base + "/profiles/zzz").status_code == 404
    log = requests.get(base + "/requests").json()["requests"]
    assert (
        log[-1]["path"] == "/users/track" and log[-1]["status"] == 201 and log[-1]["objects"] == 1
    )
    assert (
        requests.get(base + "/requests", params={"since": log[-1]["seq"]}).json()["requests"] == []
    )
    assert requests.get(base + "/data_points").json()["total"] == 1
    stats = requests.get(base + "/stats").json()
    assert stats["profiles"] == 1 and stats["statuses"] == {"201": 1}
    assert requests.post(base + "/seed", json={"external_ids": ["s1", "s2"]}).json() == {
        "created": 2
    }
    assert requests.post(base + "/reset").status_code == 200
    assert requests.get(base + "/stats").json()["profiles"] == 0
    assert requests.get(base + "/nothing").status_code == 404


def test_export_and_delete_routes(post, sandbox):
    post("/users/track", {"attributes": [{"external_id": "a", "first_name": "Ann", "x": 1}]})
    body = post(
        "/users/export/ids", {"external_ids": ["a", "zz"], "fields_to_export": ["first_name"]}
    ).json()
    assert body["users"] == [{"external_id": "a", "first_name": "Ann"}] and body[
        "invalid_user_ids"
    ] == ["zz"]
    assert (
        post("/users/export/ids", {"external_ids": [str(i) for i in range(51)]}).status_code == 400
    )
    assert post("/users/delete", {"external_ids": ["a", "zz"]}).json() == {
        "message": "success",
        "deleted": 1,
    }
    assert sandbox.profile("a") is None and sandbox.data_points_spent() == 2


def test_state_survives_restart(tmp_path):
    with SandboxServer(tmp_path, rate_limit_requests=None) as sb:
        requests.post(
            sb.url + "/users/track",
            json={"attributes": [{"external_id": "a", "first_name": "Ann"}]},
            headers={"Authorization": "Bearer sandbox-key"},
        )
    with SandboxServer(tmp_path, rate_limit_requests=None) as sb:
        assert sb.profile("a")["first_name"] == "Ann" and sb.data_points_spent() == 1
        reply = requests.post(
            sb.url + "/users/track",
            json={"attributes": [{"external_id": "b"}]},
            headers={"Authorization": "Bearer sandbox-key"},
        )
        assert reply.status_code == 201
        assert sb.profile("b")["braze_id"] != sb.profile("a")["braze_id"]
    (tmp_path / "braze_sandbox_state.json").write_text("{broken")
    with pytest.raises(ValueError, match="braze_sandbox_state.json"):
        SandboxServer(tmp_path)


def test_stop_closes_keep_alive_connections(tmp_path):
    sb = SandboxServer(None, rate_limit_requests=None).start()
    session = requests.Session()
    assert session.get(sb.url + "/_sandbox/stats").status_code == 200
    sb.stop()
    with pytest.raises(requests.ConnectionError):
        session.get(sb.url + "/_sandbox/stats")
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", sb.port)) != 0


def test_key_is_never_logged(post, sandbox):
    post("/users/track", {"attributes": [{"external_id": "a"}]})
    post("/users/track", {"attributes": []}, key="secret-wrong-key")
    text = str(sandbox.request_log()) + str(sandbox.stats())
    assert KEY not in text and "secret-wrong-key" not in text


def test_serve_prints_url_and_test_key(tmp_path):
    import subprocess
    import sys

    proc = subprocess.Popen(
        [sys.executable, "-m", "braze_assets.sandbox", "--port", "0", "--state-dir", str(tmp_path)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        lines = [proc.stdout.readline() for _ in range(3)]
        url = lines[0].split()[-1]
        assert url.startswith("http://127.0.0.1:") and "BRAZE_API_KEY=sandbox-key" in lines[2]
        reply = requests.post(
            url + "/users/track",
            json={"attributes": [{"external_id": "a"}]},
            headers={"Authorization": "Bearer sandbox-key"},
        )
        assert reply.status_code == 201
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert (tmp_path / "braze_sandbox_state.json").exists()


def test_a_client_that_vanishes_mid_request_is_not_an_error(sandbox, capfd):
    # A killed sync process resets its connections; the sandbox must carry on quietly.
    sandbox.set_faults(FaultConfig(latency_ms=200))
    host, port = sandbox.url.removeprefix("http://").split(":")
    body = b'{"attributes": [{"external_id": "gone"}]}'
    for _ in range(3):
        with socket.create_connection((host, int(port))) as conn:
            conn.sendall(
                b"POST /users/track HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
                + KEY.encode()
                + b"\r\nContent-Type: application/json\r\nContent-Length: "
                + str(len(body)).encode()
                + b"\r\n\r\n"
                + body
            )
            conn.setsockopt(
                socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
            )  # close with a reset
    time.sleep(0.6)  # the answers are written into the reset connections
    sandbox.set_faults(FaultConfig())
    assert (
        requests.post(
            sandbox.url + "/users/track",
            json={"attributes": []},
            headers={"Authorization": f"Bearer {KEY}"},
        ).status_code
        == 201
    )
    assert "Traceback" not in capfd.readouterr().err
