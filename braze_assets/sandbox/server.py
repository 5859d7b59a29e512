"""The sandbox HTTP server: a threaded HTTP/1.1 keep-alive server around ``SandboxApi``."""

from __future__ import annotations

import signal
import socket
import sys
import threading
import time
from collections.abc import Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import orjson

from braze_assets.sandbox.api import ALL_PERMISSIONS, DEFAULT_API_KEY, Reply, SandboxApi
from braze_assets.sandbox.faults import FaultConfig
from braze_assets.sandbox.workspace import Workspace

_REASONS = {
    200: "OK",
    201: "Created",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    413: "Payload Too Large",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}
# Bodies beyond this are not read at all: the connection is closed after the 413.
_MAX_READ = 64 * 1024 * 1024


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "BrazeSandbox/1"
    timeout = 120  # idle keep-alive connections are closed after this

    def log_message(self, format, *args) -> None:
        return  # the sandbox keeps its own request log, without keys or bodies

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_DELETE(self) -> None:
        self._serve("DELETE")

    def _serve(self, method: str) -> None:
        server: _HTTPServer = self.server  # type: ignore[assignment]
        if server.stopping:
            self._drop()
            return
        length = int(self.headers.get("Content-Length") or 0)
        if length > _MAX_READ:
            self.close_connection = True
            self._write(Reply(413, {"message": "Payload Too Large: requests are limited to 4 MB"}))
            return
        body = self.rfile.read(length) if length else b""
        reply = server.api.handle(method, self.path, self.headers, body)
        if reply.delay_s:
            time.sleep(reply.delay_s)
        if reply.drop:
            self._drop()
            return
        self._write(reply)

    def _drop(self) -> None:
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _write(self, reply: Reply) -> None:
        payload = orjson.dumps(reply.body) if reply.body is not None else b""
        lines = [
            f"HTTP/1.1 {reply.status} {_REASONS.get(reply.status, 'Unknown')}",
            "Content-Type: application/json",
            f"Content-Length: {len(payload)}",
        ]
        lines.extend(f"{name}: {value}" for name, value in reply.headers.items())
        if self.close_connection:
            lines.append("Connection: close")
        # One write per response: the socket file is unbuffered.
        self.wfile.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + payload)


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128
    allow_reuse_address = True

    def __init__(self, address, api: SandboxApi) -> None:
        self.api = api
        self.stopping = False
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def process_request(self, request, client_address) -> None:
        with self._connections_lock:
            self._connections.add(request)
            self.api.connections_accepted += 1
        super().process_request(request, client_address)

    def handle_error(self, request, client_address) -> None:
        # A client that goes away mid-request (a killed sync, a timed-out read) is routine here.
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)

    def shutdown_request(self, request) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        with self._connections_lock:
            connections = list(self._connections)
        for conn in connections:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class SandboxServer:
    """A local Braze REST API. ``with SandboxServer(dir).start() as sb: sb.url``."""

    def __init__(
        self,
        state_dir: Path | None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        api_keys: dict[str, set[str]] | None = None,
        rate_limit_requests: int | None = 3000,
        rate_limit_period_s: float = 3.0,
        faults: FaultConfig | None = None,
        export_rate_limit_requests: int | None = 250,
        export_rate_limit_period_s: float = 60.0,
        objects_per_request: int = 75,
        per_array_limit: bool = False,
        flush_interval_s: float = 5.0,
    ) -> None:
        self.host = host
        self.port = port
        self.workspace = Workspace(state_dir)
        self.api = SandboxApi(
            self.workspace,
            api_keys=api_keys,
            rate_limit_requests=rate_limit_requests,
            rate_limit_period_s=rate_limit_period_s,
            export_rate_limit_requests=export_rate_limit_requests,
            export_rate_limit_period_s=export_rate_limit_period_s,
            objects_per_request=objects_per_request,
            per_array_limit=per_array_limit,
            faults=faults,
        )
        self.flush_interval_s = flush_interval_s
        self._httpd: _HTTPServer | None = None
        self._threads: list[threading.Thread] = []
        self._stop_event = threading.Event()
        self.url = ""

    def __repr__(self) -> str:
        return f"SandboxServer({self.url or 'not started'})"

    def start(self) -> SandboxServer:
        if self._httpd is not None:
            return self
        self._httpd = _HTTPServer((self.host, self.port), self.api)
        self.port = self._httpd.server_address[1]
        self.url = f"http://{self.host}:{self.port}"
        self._stop_event.clear()
        self._threads = [
            threading.Thread(
                target=self._httpd.serve_forever,
                kwargs={"poll_interval": 0.1},
                name="braze-sandbox",
                daemon=True,
            ),
            threading.Thread(target=self._flush_loop, name="braze-sandbox-flush", daemon=True),
        ]
        for thread in self._threads:
            thread.start()
        return self

    def _flush_loop(self) -> None:
        while not self._stop_event.wait(self.flush_interval_s):
            self.workspace.flush()

    def stop(self) -> None:
        if self._httpd is None:
            return
        self._httpd.stopping = True
        self._httpd.shutdown()
        self._httpd.close_connections()
        self._httpd.server_close()
        self._stop_event.set()
        for thread in self._threads:
            thread.join(timeout=10)
        self._httpd = None
        self.workspace.flush()

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # ---- control and introspection from code -----------------------------------------------
    def seed_users(self, external_ids: Iterable[str]) -> None:
        self.workspace.seed(external_ids)

    def set_faults(self, faults: FaultConfig) -> None:
        self.api.faults.set(faults)
        if not faults.defer_merges:
            self.api.apply_merges()

    def apply_merges(self) -> int:
        """Apply merges queued under FaultConfig(defer_merges=True) (Braze's async merges)."""
        return self.api.apply_merges()

    def profiles(self) -> list[dict]:
        return self.workspace.all_profiles()

    def profile(self, external_id: str) -> dict | None:
        return self.workspace.profile(external_id)

    def request_log(self, since: int = 0) -> list[dict]:
        return self.api.request_log(since)

    def events(self) -> list[dict]:
        """Events and purchases received (each with its array name), oldest first."""
        with self.workspace.lock:
            return [dict(e) for e in self.workspace.event_log]

    def received_by_user(self) -> dict[str, int]:
        """Attribute objects accepted per user since start (or reset)."""
        return self.api.received_by_user()

    def data_points_spent(self) -> int:
        return self.workspace.data_point_summary()["total"]

    def data_points(self) -> dict:
        return self.workspace.data_point_summary()

    def stats(self) -> dict:
        return self.api.stats()

    def reset(self) -> None:
        self.api.reset()


def serve(
    state_dir: Path | None,
    host: str = "127.0.0.1",
    port: int = 4010,
    *,
    api_key: str = DEFAULT_API_KEY,
    rate_limit_requests: int | None = 3000,
    rate_limit_period_s: float = 3.0,
    faults: FaultConfig | None = None,
    out=None,
) -> None:
    """Run the sandbox in the foreground until Ctrl-C (``braze-assets sandbox serve``)."""
    out = out or sys.stdout
    if threading.current_thread() is threading.main_thread():
        # `kill` / container stop: leave through the finally below so the workspace is flushed.
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    server = SandboxServer(
        state_dir,
        host=host,
        port=port,
        api_keys={api_key: set(ALL_PERMISSIONS)},
        rate_limit_requests=rate_limit_requests,
        rate_limit_period_s=rate_limit_period_s,
        faults=faults,
    )
    limit = (
        "off"
        if rate_limit_requests is None
        else f"{rate_limit_requests} requests / {rate_limit_period_s:g} s"
    )
    try:
        server.start()
        print(f"Braze sandbox listening on {server.url}", file=out)
        print(f"  REST endpoint: BRAZE_REST_ENDPOINT={server.url}", file=out)
        print(f"  test API key:  BRAZE_API_KEY={api_key}", file=out)
        print(f"  state:         {server.workspace.state_path or 'in memory only'}", file=out)
        print(f"  rate limit:    {limit}", file=out)
        print(
            f"  look inside:   {server.url}/_sandbox/stats  /_sandbox/profiles  /_sandbox/requests",
            file=out,
        )
        out.flush()
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
