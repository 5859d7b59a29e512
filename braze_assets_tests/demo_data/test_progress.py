"""`braze-assets generate` shows its progress step by step, as a live bar on a terminal."""

from __future__ import annotations

import io

from braze_assets.cli.progress import progress_display
from braze_assets.demo_data import generate_demo_data
from braze_assets_tests.conftest import cli_env, run_cli
from braze_assets_tests.demo_data.conftest import REPORTED_STEPS as STEPS


def test_a_log_gets_one_line_per_step(tmp_path):
    out = run_cli("generate", "--people", "60", env=cli_env(tmp_path))
    assert out.returncode == 0, out.stderr[-3000:]
    lines = [line.split() for line in out.stderr.splitlines() if line.strip()]
    assert lines[0] == ["people", "0/9"]
    # Every step is reported when it is done, in order, not only the first and the last.
    assert lines[1:] == [[step, f"{done}/9"] for done, step in enumerate(STEPS, start=1)]


def test_a_terminal_gets_a_live_bar(tmp_path, monkeypatch):
    # rich treats the output as a terminal when TTY_COMPATIBLE=1 (as under a CI log viewer).
    monkeypatch.setenv("TTY_COMPATIBLE", "1")
    shown = io.StringIO()
    with progress_display(shown) as report:
        generate_demo_data(tmp_path, people=60, progress=report)
    text = shown.getvalue()
    assert "\x1b[?25l" in text  # the cursor is hidden while the bar redraws in place
    assert "workspace_users" in text and "9/9" in text
