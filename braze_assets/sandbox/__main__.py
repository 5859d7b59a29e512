"""``python -m braze_assets.sandbox [--state-dir DIR] [--port N] [--rate-limit N|off]``."""

from __future__ import annotations

import argparse
from pathlib import Path

from braze_assets.sandbox.api import DEFAULT_API_KEY
from braze_assets.sandbox.server import serve


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m braze_assets.sandbox", description="Run the local Braze sandbox."
    )
    parser.add_argument(
        "--state-dir", type=Path, default=None, help="directory for the persisted workspace"
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=4010)
    parser.add_argument("--api-key", default=DEFAULT_API_KEY)
    parser.add_argument("--rate-limit", default="3000", help="requests per period, or 'off'")
    parser.add_argument(
        "--rate-period", type=float, default=3.0, help="rate-limit window in seconds"
    )
    args = parser.parse_args(argv)
    limit = None if args.rate_limit.lower() == "off" else int(args.rate_limit)
    serve(
        args.state_dir,
        args.host,
        args.port,
        api_key=args.api_key,
        rate_limit_requests=limit,
        rate_limit_period_s=args.rate_period,
    )


if __name__ == "__main__":
    main()
