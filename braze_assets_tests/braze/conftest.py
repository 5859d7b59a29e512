from braze_assets_tests.sandbox_fixture import two_key_sandbox_fixture

SECRET = "sk-test-SECRET-0123456789abcdef"
NO_TRACK_KEY = "sk-test-EXPORT-ONLY-fedcba9876543210"


sandbox = two_key_sandbox_fixture(SECRET, NO_TRACK_KEY)


def attrs(n: int, start: int = 0) -> list[dict]:
    return [
        {"external_id": f"user-{i}", "first_name": f"Ann{i}", "ltv": float(i)}
        for i in range(start, start + n)
    ]
