import pytest
import requests

from braze_assets_tests.sandbox_fixture import two_key_sandbox_fixture

KEY = "sandbox-key"
LIMITED_KEY = "export-only-key"


sandbox = two_key_sandbox_fixture(KEY, LIMITED_KEY)


@pytest.fixture
def post(sandbox):
    session = requests.Session()

    def _post(route: str, body=None, key: str | None = KEY, data: bytes | None = None):
        headers = {"Authorization": f"Bearer {key}"} if key is not None else {}
        return session.post(
            sandbox.url + route, json=body if data is None else None, data=data, headers=headers
        )

    yield _post
    session.close()
