"""One sync in its own process, stopped by signals the way the CLI is (SIGTERM = Ctrl-C).

python -m braze_assets_tests.faults.sync_child DATA_DIR URL CONCURRENCY OBJECTS_PER_REQUEST
"""

from __future__ import annotations

import sys
from pathlib import Path

from braze_assets.cli.main import _stop_on_sigterm
from braze_assets.sandbox import DEFAULT_API_KEY
from braze_assets_tests.faults.conftest import run_sync


def main(data_dir: str, url: str, concurrency: str, per_request: str) -> int:
    _stop_on_sigterm()
    try:
        run_sync(
            Path(data_dir),
            url,
            DEFAULT_API_KEY,
            concurrency=int(concurrency),
            objects_per_request=int(per_request),
        )
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:5]))
