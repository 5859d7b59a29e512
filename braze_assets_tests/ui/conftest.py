"""A demo materialised the way a user points it at their own Braze and bucket, and the UI on top.

The "real" Braze is a sandbox that only accepts one distinctive API key, and the "real" bucket is a
local S3 endpoint reached with distinctive AWS credentials, both given to `braze-assets demo` only
through the documented environment variables. So the run proves the variables are used, and the
secrets are known values that the no-secrets test can look for everywhere the run leaves traces.
"""

from __future__ import annotations

import csv
import os
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import boto3
import pytest

from braze_assets.currents.demo import publish_demo_currents
from braze_assets.currents.local_s3 import LocalS3
from braze_assets.sandbox import SandboxServer
from braze_assets.sandbox.api import ALL_PERMISSIONS
from braze_assets.settings import PROJECT_DIR
from braze_assets_tests.conftest import DemoRun, cli_env, run_cli
from braze_assets_tests.ui.services import start_webserver, stop_process_group

DEMO_PEOPLE = 2_000
BUCKET = "acme-braze-currents"
PREFIX = "currents/acme"
CHROMIUM = Path("/usr/bin/chromium")


@dataclass(frozen=True)
class PointedDemo(DemoRun):
    secrets: tuple[str, ...]
    sandbox: SandboxServer


def _workspace_users(data_dir: Path) -> list[dict]:
    with (data_dir / "braze_workspace_users.csv").open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="session")
def pointed_demo(tmp_path_factory) -> PointedDemo:
    root = tmp_path_factory.mktemp("ui")
    data_dir = root / "data"
    home = data_dir / "dagster_home"
    home.mkdir(parents=True)
    shutil.copyfile(PROJECT_DIR / "dagster.yaml", home / "dagster.yaml")
    braze_key = f"brzkey-{uuid.uuid4().hex}"
    aws_secret = f"awssecret-{uuid.uuid4().hex}"
    aws = {
        "AWS_ACCESS_KEY_ID": "AKIAUITEST",
        "AWS_SECRET_ACCESS_KEY": aws_secret,
        "AWS_DEFAULT_REGION": "us-east-1",
    }

    generated = run_cli("generate", "--people", str(DEMO_PEOPLE), env=cli_env(data_dir))
    assert generated.returncode == 0, f"generate failed:\n{generated.stdout}\n{generated.stderr}"

    with (
        SandboxServer(root / "braze_state", api_keys={braze_key: set(ALL_PERMISSIONS)}) as sandbox,
        LocalS3() as s3,
    ):
        # What `braze-assets demo` does for its own local stand-ins, done here for "your" Braze and bucket.
        users = _workspace_users(data_dir)
        sandbox.seed_users(u["external_id"] for u in users)
        client = boto3.client(
            "s3",
            endpoint_url=s3.endpoint_url,
            region_name=aws["AWS_DEFAULT_REGION"],
            aws_access_key_id=aws["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=aws_secret,
        )
        publish_demo_currents(BUCKET, PREFIX, users, s3_client=client)
        env = cli_env(
            data_dir,
            BRAZE_API_KEY=braze_key,
            BRAZE_REST_ENDPOINT=sandbox.url,
            CURRENTS_S3_BUCKET=BUCKET,
            CURRENTS_S3_PREFIX=PREFIX,
            AWS_ENDPOINT_URL=s3.endpoint_url,
            **aws,
        )
        demo = run_cli("demo", "--people", str(DEMO_PEOPLE), env=env)
        assert demo.returncode == 0, f"demo failed:\n{demo.stdout}\n{demo.stderr}"
        yield PointedDemo(
            data_dir, home, env, demo.stdout + demo.stderr, (braze_key, aws_secret), sandbox
        )


@dataclass(frozen=True)
class DagsterUI:
    url: str
    log: Path


@pytest.fixture(scope="session")
def dagster_ui(pointed_demo, tmp_path_factory) -> DagsterUI:
    log = tmp_path_factory.mktemp("webserver") / "webserver.log"
    process, url = start_webserver(pointed_demo.env, log)
    try:
        yield DagsterUI(url, log)
    finally:
        stop_process_group(process)


CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _missing(reason: str):
    # CI must not pass by skipping: .ci/run installs chromium, so its absence there is a failure.
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI is set, so the browser test may not be skipped)")
    pytest.skip(reason)


def _loopback_only(route) -> None:
    host = urlsplit(route.request.url).hostname
    if host in ("127.0.0.1", "localhost") or route.request.url.startswith(("data:", "blob:")):
        route.continue_()
    else:
        route.abort()


@pytest.fixture(scope="session")
def chromium() -> Path:
    """Checked before the demo is built, so a machine without a browser skips at once."""
    if not CHROMIUM.exists():
        _missing(f"{CHROMIUM} is missing; install Debian's chromium (apt-get install chromium)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        _missing(
            "the playwright Python package is missing (pip install playwright; no `playwright install` needed)"
        )
    return CHROMIUM


@pytest.fixture
def browser_page(chromium, tmp_path):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"),
            executable_path=str(chromium),
            args=CHROMIUM_ARGS,
            headless=True,
            viewport={"width": 1600, "height": 1000},
        )
        # Loopback only: anything the UI would fetch from elsewhere is refused, never sent.
        context.route("**/*", _loopback_only)
        # The UI's first-visit "join the community" dialog would cover the graph.
        context.add_init_script("window.localStorage.setItem('communityNux', 'true')")
        context.set_default_timeout(30_000)
        try:
            yield context.new_page()
        finally:
            context.close()
