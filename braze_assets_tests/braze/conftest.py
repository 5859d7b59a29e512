import pytest

from braze_assets.sandbox import SandboxServer

SECRET = "sk-test-SECRET-0123456789abcdef"
NO_TRACK_KEY = "sk-test-EXPORT-ONLY-fedcba9876543210"


@pytest.fixture
def sandbox(tmp_path):
    with SandboxServer(
        tmp_path / "sandbox",
        api_keys={SECRET: {"users.track", "users.export.ids", "users.delete"}, NO_TRACK_KEY: {"users.export.ids"}},
        rate_limit_requests=None,
    ) as server:
        yield server


def attrs(n: int, start: int = 0) -> list[dict]:
    return [{"external_id": f"user-{i}", "first_name": f"Ann{i}", "ltv": float(i)} for i in range(start, start + n)]
