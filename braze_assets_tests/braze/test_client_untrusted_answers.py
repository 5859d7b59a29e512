"""Answers that are not Braze's: a proxy, captive portal or wrong host over a real local server.

Each server is a stdlib http.server on port 0 in a thread: the stand-in for what a user meets
when BRAZE_REST_ENDPOINT points at the wrong thing.
"""

from __future__ import annotations

import http.server
import threading
from contextlib import contextmanager

import pytest

from braze_assets.braze.client import DELIVERED, NOT_DELIVERED, BrazeClient, BrazeError
from braze_assets_tests.braze.conftest import SECRET, attrs

pytestmark = pytest.mark.integration


@contextmanager
def answering(status: int, body: bytes, content_type: str | None):
    """A server answering every POST with this status, body and content type."""
    hits: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            hits.append(self.path)
            self.send_response(status)
            if content_type is not None:
                self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", hits
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def client_for(url: str) -> BrazeClient:
    return BrazeClient(SECRET, url, objects_per_request=10, backoff_base_s=0.01, retry_budget_s=5.0)


HTML = b"<html><body>Welcome to the hotel wifi</body></html>"


@pytest.mark.parametrize(
    "status, body, content_type, problem",
    [
        (200, HTML, "text/html; charset=utf-8", "not JSON"),
        (200, b"", None, "empty"),
        (201, b'{"ok": true}', "application/json", '"message"'),
        (200, b"[1, 2]", "application/json", "not an object"),
        (200, b'{"message": "success"}', "text/html", "content type"),
        (201, b'{"message": "success", "errors": "oops"}', "application/json", "errors"),
    ],
)
def test_a_2xx_that_is_not_braze_delivers_nothing(status, body, content_type, problem, caplog):
    with answering(status, body, content_type) as (url, hits):
        with client_for(url) as client:
            result = client.track_attributes(attrs(25))
    assert len(hits) == 3  # each batch sent once: the answer is not retried, nor believed
    assert result.delivered == 0 and result.not_delivered == 25 and not result.ok
    for outcome in result.outcomes:
        assert outcome.status == NOT_DELIVERED
        assert f"HTTP {status}" in outcome.reason and problem in outcome.reason
        assert (content_type or "no content type") in outcome.reason
        assert SECRET not in outcome.reason
    assert SECRET not in caplog.text


def test_the_same_answers_from_braze_shape_are_delivered():
    body = b'{"message": "success", "attributes_processed": 10}'
    with answering(201, body, "application/json") as (url, _hits):
        with client_for(url) as client:
            result = client.track_attributes(attrs(25))
    assert result.delivered == 25 and all(o.status == DELIVERED for o in result.outcomes)


def test_export_and_delete_refuse_an_html_answer():
    with answering(200, HTML, "text/html") as (url, _hits):
        with client_for(url) as client:
            with pytest.raises(BrazeError, match="not Braze's answer.*text/html"):
                client.export_ids(["a"])
            with pytest.raises(BrazeError, match="not JSON"):
                client.delete_users(["a"])


@contextmanager
def never_answering():
    """A server that accepts the request and never answers (until the test ends)."""
    done = threading.Event()

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            done.wait(30)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        done.set()
        server.shutdown()
        server.server_close()
        thread.join()


def test_timeout_and_retry_budget_come_from_the_environment(monkeypatch):
    from braze_assets.defs.braze.resources import braze_resource_from_env

    with never_answering() as url:
        monkeypatch.setenv("BRAZE_API_KEY", SECRET)
        monkeypatch.setenv("BRAZE_REST_ENDPOINT", url)
        monkeypatch.delenv("BRAZE_INSTANCE", raising=False)
        monkeypatch.setenv("BRAZE_TIMEOUT_S", "0.2")
        monkeypatch.setenv("BRAZE_RETRY_BUDGET_S", "0.5")
        resource = braze_resource_from_env()
        assert resource.timeout_s == 0.2 and resource.retry_budget_s == 0.5
        with resource.get_client() as client:
            assert client.timeout_s == 0.2 and client.retry_budget_s == 0.5
            result = client.track_attributes(attrs(5))
    assert result.not_delivered == 5 and result.delivered == 0
    assert all("retry budget exhausted" in o.reason for o in result.outcomes)
    assert all("timed out" in o.reason for o in result.outcomes)


@pytest.mark.parametrize("name", ["BRAZE_TIMEOUT_S", "BRAZE_RETRY_BUDGET_S"])
def test_bad_timeout_settings_name_the_variable(monkeypatch, name):
    from braze_assets.defs.braze.resources import braze_resource_from_env

    monkeypatch.setenv("BRAZE_API_KEY", SECRET)
    monkeypatch.setenv(name, "soon")
    with pytest.raises(ValueError, match=f"{name}='soon' must be a number of seconds"):
        braze_resource_from_env()


def test_an_interrupt_stops_retrying_workers_at_once_and_leaves_rows_unsent():
    """Ctrl-C / SIGTERM (a KeyboardInterrupt in the caller's thread) against an endpoint that
    answers 500: the workers stop retrying instead of running out the retry budget."""
    import signal
    import time

    body = b'{"message": "Internal Server Error"}'
    seen: list[list[int]] = []
    with answering(500, body, "application/json") as (url, hits):
        client = BrazeClient(
            SECRET,
            url,
            objects_per_request=10,
            concurrency=2,
            backoff_base_s=0.05,
            backoff_max_s=0.2,
            retry_budget_s=8.0,
        )
        # Like Ctrl-C: SIGINT to the main thread, which waits in track_attributes.
        main = threading.main_thread().ident
        timer = threading.Timer(0.5, signal.pthread_kill, (main, signal.SIGINT))
        # Python's own SIGINT handler, as `braze-assets` runs with (an imported library may
        # have replaced it for the test session).
        previous = signal.signal(signal.SIGINT, signal.default_int_handler)
        try:
            timer.start()
            with pytest.raises(KeyboardInterrupt):
                client.track_attributes(attrs(45), on_batch=lambda b: seen.append(b.indices))
        finally:
            timer.cancel()
            signal.signal(signal.SIGINT, previous)
        after_interrupt = len(hits)
        time.sleep(0.5)  # several backoff periods: a retrying worker would post again
        assert len(hits) == after_interrupt, "workers kept retrying after the interrupt"
        client.close()
    # Only the two batches in flight were journaled (as not delivered); the rest never were.
    assert sorted(i for batch in seen for i in batch) == list(range(20))
