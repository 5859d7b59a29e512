"""The CLI's commands; each takes the parsed arguments and returns an exit code."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from braze_assets import settings
from braze_assets.cli.errors import UserFacingError


def _data_dir(create: bool = True) -> Path:
    path = settings.data_dir()
    if not path.exists():
        if not create or not path.parent.is_dir():
            raise UserFacingError(
                f"data dir {path} does not exist ({settings.ENV_DATA_DIR}); create it or point the variable at an existing folder"
            )
        path.mkdir()
    if not path.is_dir():
        raise UserFacingError(f"data dir {path} is not a directory ({settings.ENV_DATA_DIR})")
    return path


def generate(args) -> int:
    from braze_assets.cli.demo_extra import demo_module
    from braze_assets.cli.progress import progress_display

    demo_data = demo_module("braze_assets.demo_data", "`braze-assets generate`")
    with progress_display() as progress:
        summary = demo_data.generate_demo_data(
            _data_dir(),
            people=args.people,
            seed=args.seed,
            overwrite=args.overwrite,
            progress=progress,
        )
    print(summary)
    return 0


def demo(args) -> int:
    from braze_assets.cli.demo import run_demo
    from braze_assets.cli.demo_extra import require_demo

    require_demo("`braze-assets demo`")
    # The demo runs on the embedded demo config unless the user gives theirs; set explicitly, so
    # its runs do not warn as a production run without a config dir does.
    os.environ.setdefault(settings.ENV_CONFIG_DIR, str(settings.DEMO_CONFIG_DIR))
    return run_demo(_data_dir(), people=args.people)


def _wait_forever(message: str) -> None:
    print(message, flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        print("stopping", flush=True)


def sandbox_serve(args) -> int:
    from braze_assets.cli.demo_extra import demo_module

    sandbox = demo_module("braze_assets.sandbox", "`braze-assets sandbox serve`")
    with sandbox.SandboxServer(
        settings.sandbox_state_dir(), host=args.host, port=args.port
    ) as server:
        _wait_forever(
            f"Braze sandbox on {server.url} (state in {settings.sandbox_state_dir()}).\n"
            f"Use BRAZE_REST_ENDPOINT={server.url} BRAZE_API_KEY={sandbox.SANDBOX_API_KEY}. Ctrl-C stops it."
        )
    return 0


def sandbox_inspect(args) -> int:
    import requests

    try:
        stats = requests.get(f"{args.url}/_sandbox/stats", timeout=5).json()
    except requests.RequestException as exc:
        raise UserFacingError(
            f"no sandbox answers at {args.url} ({type(exc).__name__}); start one with `braze-assets sandbox serve`"
        ) from None
    for key, value in stats.items():
        print(f"{key:>28}: {value}")
    return 0


def s3_serve(args) -> int:
    from braze_assets.cli.demo_extra import demo_module
    from braze_assets.cli.services import LOCAL_AWS

    local_s3 = demo_module("braze_assets.currents.local_s3", "`braze-assets s3 serve`")
    with local_s3.LocalS3(port=args.port) as s3:
        env = " ".join(f"{k}={v}" for k, v in LOCAL_AWS.items())
        _wait_forever(
            f"Local S3 API on {s3.endpoint_url}. Use AWS_ENDPOINT_URL={s3.endpoint_url} {env}. Ctrl-C stops it."
        )
    return 0


def status(args) -> int:
    from braze_assets.cli.status import status_report

    data_dir = _data_dir(create=False)
    home = Path(os.environ.get("DAGSTER_HOME") or data_dir / "dagster_home").resolve()
    print(status_report(settings.warehouse_path(), data_dir / "sync_journal", home))
    return 0


def ui(args) -> int:
    """Local services plus `dagster dev`, with the environment a UI-launched run needs."""
    from braze_assets.cli.instance import dagster_home
    from braze_assets.cli.services import local_services

    data_dir = _data_dir()
    home = dagster_home(data_dir)
    if not os.environ.get(settings.ENV_CONFIG_DIR):
        print(
            f"{settings.ENV_CONFIG_DIR} is not set: runs use the embedded demo config "
            f"({settings.DEMO_CONFIG_DIR}); set it to your config directory in production.",
            file=sys.stderr,
        )
    with local_services(data_dir, sandbox_port=args.sandbox_port, s3_port=args.s3_port) as services:
        print(
            f"Braze endpoint: {services.braze_endpoint}; Currents bucket: s3://{services.bucket}/{services.prefix}"
        )
        print(
            f"Dagster UI on http://127.0.0.1:{args.port} (DAGSTER_HOME={home}). Ctrl-C stops everything.",
            flush=True,
        )
        # Its own process group, so Ctrl-C and shutdown reach dagster dev and its children together.
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "dagster",
                "dev",
                "-w",
                str(settings.PROJECT_DIR / "workspace.yaml"),
                "-h",
                "127.0.0.1",
                "-p",
                str(args.port),
            ],
            cwd=settings.PROJECT_DIR,
            start_new_session=True,
        )
        try:
            return process.wait()
        except KeyboardInterrupt:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
            return 130
