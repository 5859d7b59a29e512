"""A running Braze sandbox with one full-permission key and one export-only key, for client and server tests."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from braze_assets.sandbox import SandboxServer


@contextmanager
def two_key_sandbox(
    state_dir: Path, full_key: str, export_only_key: str
) -> Iterator[SandboxServer]:
    # No rate limit, so a test only ever sees the throttling it sets up itself.
    with SandboxServer(
        state_dir,
        api_keys={
            full_key: {"users.track", "users.export.ids", "users.delete"},
            export_only_key: {"users.export.ids"},
        },
        rate_limit_requests=None,
    ) as server:
        yield server


def two_key_sandbox_fixture(full_key: str, export_only_key: str):
    """A `sandbox` fixture: two_key_sandbox with these keys, its state under the test's directory."""

    @pytest.fixture
    def sandbox(tmp_path):
        with two_key_sandbox(tmp_path / "sandbox", full_key, export_only_key) as server:
            yield server

    return sandbox
