"""Argument parsing and clean failure: every known error is one line and a non-zero exit."""

from __future__ import annotations

import argparse
import signal
import sys

from braze_assets.cli import commands
from braze_assets.cli.errors import UserFacingError, user_message


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="braze-assets",
        description="Open-source customer data platform for Braze, built on Dagster.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = sub.add_parser(
        "demo", help="run the whole flow on the embedded demo and print a summary"
    )
    demo.add_argument(
        "--people", type=int, default=None, help="demo size when generating data (default 20000)"
    )
    demo.set_defaults(func=commands.demo)

    generate = sub.add_parser("generate", help="generate the demo source files into the data dir")
    generate.add_argument("--people", type=int, default=20_000)
    generate.add_argument("--seed", type=int, default=7)
    generate.add_argument("--overwrite", action="store_true", help="replace existing demo files")
    generate.set_defaults(func=commands.generate)

    sandbox = sub.add_parser("sandbox", help="the local Braze sandbox")
    sandbox_sub = sandbox.add_subparsers(dest="action", required=True, metavar="ACTION")
    serve = sandbox_sub.add_parser("serve", help="serve the sandbox until Ctrl-C")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8787)
    serve.set_defaults(func=commands.sandbox_serve)
    inspect = sandbox_sub.add_parser("inspect", help="print what a running sandbox holds")
    inspect.add_argument("--url", default="http://127.0.0.1:8787")
    inspect.set_defaults(func=commands.sandbox_inspect)

    s3 = sub.add_parser("s3", help="the local S3 endpoint for Currents")
    s3_sub = s3.add_subparsers(dest="action", required=True, metavar="ACTION")
    s3_serve = s3_sub.add_parser("serve", help="serve a local S3 API (moto) until Ctrl-C")
    s3_serve.add_argument("--port", type=int, default=8788)
    s3_serve.set_defaults(func=commands.s3_serve)

    status = sub.add_parser("status", help="print the state of the last Braze sync")
    status.set_defaults(func=commands.status)

    ui = sub.add_parser("ui", help="start the local services and the Dagster UI (dagster dev)")
    ui.add_argument("--port", type=int, default=3000)
    ui.add_argument(
        "--sandbox-port",
        type=int,
        default=8787,
        help="local Braze sandbox port (when not configured)",
    )
    ui.add_argument("--s3-port", type=int, default=8788, help="local S3 port (when not configured)")
    ui.set_defaults(func=commands.ui)
    return parser


def _stop_on_sigterm() -> None:
    """SIGTERM ends a command like Ctrl-C does, so local services and child processes are stopped."""

    def _raise(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _raise)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    _stop_on_sigterm()
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except UserFacingError as exc:
        print(f"braze-assets: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # the known failure kinds get one readable line, not a traceback wall
        message = user_message(exc)
        if message is None:
            raise
        print(f"braze-assets: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
