"""Client logic that needs no server: error mapping, retry waits, secrecy of the object."""

import email.utils
import pickle
import time

import pytest

from braze_assets.braze.client import DELIVERED, REJECTED, BrazeClient, BrazeError, RowOutcome

KEY = "sk-unit-SECRET-0000111122223333"


@pytest.fixture
def client():
    c = BrazeClient(KEY, "https://rest.iad-03.braze.com", backoff_base_s=1.0, backoff_max_s=8.0)
    yield c
    c.close()


def test_per_object_errors_map_to_input_rows(client):
    outcomes, unmapped = client._map_errors(
        [10, 11, 12, 13],
        {
            "message": "success",
            "errors": [
                {"type": "Invalid dob", "input_array": "attributes", "index": 1},
                {"type": "Invalid gender", "input_array": "attributes", "index": 3},
                {"type": "odd", "input_array": "events", "index": 0},
                {"type": "no index"},
            ],
        },
    )
    assert outcomes == [
        RowOutcome(10, DELIVERED, None),
        RowOutcome(11, REJECTED, "Invalid dob"),
        RowOutcome(12, DELIVERED, None),
        RowOutcome(13, REJECTED, "Invalid gender"),
    ]
    assert len(unmapped) == 2


def test_retry_after_then_reset_then_backoff(client):
    assert client._retry_wait(429, {"Retry-After": "7"}, 1) == 7.0
    http_date = email.utils.formatdate(time.time() + 20, usegmt=True)
    assert 15 < client._retry_wait(503, {"Retry-After": http_date}, 1) <= 21
    reset = str(int(time.time()) + 5)
    assert 3 < client._retry_wait(429, {"X-RateLimit-Reset": reset}, 1) < 6.1
    # X-RateLimit-Reset is the window end, meaningless for a 5xx: back off exponentially.
    waits = [
        client._retry_wait(500, {"X-RateLimit-Reset": reset}, attempt)
        for attempt in (1, 2, 3, 4, 5)
    ]
    assert 0.5 <= waits[0] <= 1.0 and 1.0 <= waits[1] <= 2.0 and 4.0 <= waits[4] <= 8.0
    assert 0.5 <= client._retry_wait(None, {}, 1) <= 1.0


def test_key_is_not_in_repr_str_or_pickle(client):
    assert KEY not in repr(client) and KEY not in str(client)
    assert "US-03 = https://rest.iad-03.braze.com" in repr(client)
    with pytest.raises(TypeError):
        pickle.dumps(client)


def test_redact_and_empty_key(client):
    assert client._redact(f"boom {KEY} boom") == "boom *** boom"
    with pytest.raises(BrazeError, match="BRAZE_API_KEY"):
        BrazeClient("  ", "https://rest.iad-03.braze.com")


def test_fatal_messages_name_instance_and_permission(client):
    with pytest.raises(BrazeError) as err:
        client._raise_if_fatal("/users/track", 401, {"message": "Invalid API key"})
    assert "US-03 = https://rest.iad-03.braze.com" in str(err.value) and "key" in str(err.value)
    with pytest.raises(BrazeError, match="users.track"):
        client._raise_if_fatal("/users/track", 403, {})
    with pytest.raises(BrazeError, match="objects_per_request"):
        client._raise_if_fatal(
            "/users/track", 400, {"message": "Max Input Length Exceeded"}, batch_size=100
        )
    client._raise_if_fatal("/users/track", 400, {"message": "something else"})  # not fatal
