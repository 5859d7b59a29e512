"""Progress for long CLI work: a rich progress bar on a terminal, one plain line a step otherwise."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)

# A callback: the step that is running or done, how many steps are done, and how many there are.
Report = Callable[[str, int, int], None]


@contextmanager
def progress_display(stream=None) -> Iterator[Report]:
    """Yield a progress callback; on a terminal it drives a live bar that ticks while a step runs.

    A log or a pipe gets one line per step instead of a bar redrawn in place.
    """
    console = Console(file=stream or sys.stderr)
    if not console.is_terminal:
        last: list[tuple[str, int]] = []

        def report_line(step: str, done: int, total: int) -> None:
            if last and last[-1] == (step, done):
                return
            last.append((step, done))
            print(f"  {step:<20} {done}/{total}", file=console.file, flush=True)

        yield report_line
        return

    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description:<20}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    ) as bar:
        task = bar.add_task("starting", total=None)

        def report_bar(step: str, done: int, total: int) -> None:
            bar.update(task, description=step, completed=done, total=total)

        yield report_bar
