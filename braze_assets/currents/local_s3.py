"""A real S3 endpoint on 127.0.0.1 for development, tests, the demo and the benchmark.

moto's server runs in a child process (not a thread) so its request handling never competes with
the caller for the GIL, and so its in-memory state is never shared with `moto.mock_aws` users in the
same interpreter. moto keeps objects in memory only; with `state_dir` the objects are written there
on `stop()` and uploaded again on `start()`, so the demo's Currents files survive a restart.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from urllib.parse import quote, unquote

import boto3
from botocore.config import Config

# moto accepts any credentials; these are placeholders, not secrets.
LOCAL_ACCESS_KEY = "local-s3"
LOCAL_SECRET_KEY = "local-s3"
LOCAL_REGION = "us-east-1"
_READY = "LOCAL_S3_READY "
_START_TIMEOUT_S = 60


class LocalS3:
    def __init__(self, port: int = 0, state_dir: str | Path | None = None, host: str = "127.0.0.1"):
        self.host = host
        self.port = port
        self.state_dir = Path(state_dir) if state_dir else None
        self._process: subprocess.Popen[str] | None = None

    @property
    def endpoint_url(self) -> str:
        if self._process is None:
            raise RuntimeError("LocalS3 is not running; call start() first")
        return f"http://{self.host}:{self.port}"

    def client(self, max_pool_connections: int = 10):
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            region_name=LOCAL_REGION,
            aws_access_key_id=LOCAL_ACCESS_KEY,
            aws_secret_access_key=LOCAL_SECRET_KEY,
            config=Config(max_pool_connections=max_pool_connections, retries={"max_attempts": 3}),
        )

    def start(self) -> LocalS3:
        if self._process is not None:
            return self
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self._process = subprocess.Popen(
            [sys.executable, "-m", __name__, "--host", self.host, "--port", str(self.port)],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            stdin=subprocess.PIPE,
            text=True,
            env=env,
        )
        self.port = self._wait_ready()
        if self.state_dir is not None:
            self._restore()
        return self

    def stop(self) -> None:
        if self._process is None:
            return
        try:
            if self.state_dir is not None:
                self._save()
        finally:
            process, self._process = self._process, None
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def __enter__(self) -> LocalS3:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def _wait_ready(self) -> int:
        assert self._process is not None and self._process.stdout is not None
        line: list[str] = []
        reader = threading.Thread(
            target=lambda: line.append(self._process.stdout.readline()), daemon=True
        )
        reader.start()
        reader.join(_START_TIMEOUT_S)
        if not line or not line[0].startswith(_READY):
            self._process.kill()
            self._process = None
            raise RuntimeError(
                f"local S3 (moto server) did not start on {self.host} within {_START_TIMEOUT_S}s"
            )
        return int(line[0][len(_READY) :])

    def _save(self) -> None:
        s3 = self.client()
        assert self.state_dir is not None
        for bucket in s3.list_buckets().get("Buckets", []):
            name = bucket["Name"]
            folder = self.state_dir / name
            folder.mkdir(parents=True, exist_ok=True)
            kept = set()
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=name):
                for obj in page.get("Contents", []):
                    kept.add(quote(obj["Key"], safe=""))
                    s3.download_file(name, obj["Key"], str(folder / quote(obj["Key"], safe="")))
            for stale in folder.iterdir():
                if stale.name not in kept:
                    stale.unlink()

    def _restore(self) -> None:
        assert self.state_dir is not None
        if not self.state_dir.is_dir():
            return
        s3 = self.client()
        for bucket_dir in sorted(p for p in self.state_dir.iterdir() if p.is_dir()):
            s3.create_bucket(Bucket=bucket_dir.name)
            for path in sorted(bucket_dir.iterdir()):
                s3.upload_file(str(path), bucket_dir.name, unquote(path.name))


def _serve(host: str, port: int) -> None:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address=host, port=port, verbose=False)
    server.start()
    print(_READY + str(server.get_host_and_port()[1]), flush=True)
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    # The parent holds our stdin; when it dies without calling stop(), stdin closes and we exit.
    threading.Thread(target=lambda: (sys.stdin.read(), stopped.set()), daemon=True).start()
    stopped.wait()
    server.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description="Run moto's S3 server for braze_assets (local only)."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    _serve(args.host, args.port)
