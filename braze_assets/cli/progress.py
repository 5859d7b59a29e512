"""Progress for long CLI work: one line updated in place on a terminal, plain lines otherwise."""

from __future__ import annotations

import sys
from collections.abc import Callable


def progress_printer() -> Callable[[str, int, int], None]:
    last: dict[str, int] = {}

    def report(step: str, done: int, total: int) -> None:
        percent = int(100 * done / total) if total else 100
        if last.get(step) == percent:
            return
        last[step] = percent
        end = "\n" if done >= total or not sys.stderr.isatty() else "\r"
        if sys.stderr.isatty() or percent in (0, 100) or percent % 25 == 0:
            print(
                f"  {step:<32} {percent:3d}% ({done:,}/{total:,})",
                end=end,
                file=sys.stderr,
                flush=True,
            )

    return report
