"""One sync in its own process, ending the way the CLI does: SIGTERM = Ctrl-C (exit 130), a
known failure in one line (exit 2).

python -m braze_assets_tests.faults.sync_child DATA_DIR URL CONCURRENCY OBJECTS_PER_REQUEST
"""

from __future__ import annotations

import sys
from pathlib import Path

from braze_assets.cli.errors import user_message
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
    except Exception as exc:  # as the CLI does: a known failure is one line and exit 2
        message = user_message(exc)
        if message is None:
            raise
        print(f"braze-assets: {message}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:5]))
