"""Braze's per-object rules, without HTTP."""

import orjson
import pytest

from braze_assets.sandbox.validation import billable_points, check_attribute_object


def check(obj):
    return check_attribute_object(obj, 25, lambda v: len(orjson.dumps(v)))[0]


@pytest.mark.parametrize(
    "obj",
    [
        {
            "external_id": "a",
            "first_name": "Ann",
            "dob": "1990-01-31",
            "gender": "F",
            "country": "DE",
        },
        {"external_id": "a", "gender": None, "dob": None, "tags": {"add": ["x"], "remove": ["y"]}},
        {"user_alias": {"alias_name": "n", "alias_label": "l"}, "score": 1.5},
        {"email": "a@example.com", "first_name": "Ann"},
        {"external_id": "a", "email": "a@example.com"},
        {"external_id": "a", "visits": {"inc": 2}, "seen": {"$time": "2024-01-01T10:00:00Z"}},
        {"external_id": "a", "pet": {"name": "Rex", "age": 3}, "orders": [{"id": 1}, {"id": 2}]},
        {
            "external_id": "a",
            "time_zone": "Europe/Berlin",
            "language": "de",
            "email_subscribe": "opted_in",
        },
    ],
)
def test_valid(obj):
    assert check(obj) is None


def test_identifier_is_returned():
    assert check_attribute_object({"external_id": "a", "x": 1}, 25, len)[1:] == ("external_id", "a")
    assert check_attribute_object({"email": "a@b.c"}, 25, len)[1:] == ("email", "a@b.c")


@pytest.mark.parametrize(
    "obj, fragment",
    [
        ({"first_name": "Ann"}, "Missing user identifier"),
        ({"external_id": "a", "braze_id": "b"}, "more than one user identifier"),
        ({"external_id": 5}, "non-empty string"),
        ({"external_id": "a", "dob": "31/01/1990"}, "YYYY-MM-DD"),
        ({"external_id": "a", "dob": "1990-02-30"}, "not a calendar date"),
        ({"external_id": "a", "gender": "female"}, "gender"),
        ({"external_id": "a", "country": "DEU"}, "country"),
        ({"external_id": "a", "first_name": "x" * 256}, "255"),
        ({"external_id": "a", "note": "x" * 256}, "255"),
        ({"external_id": "a", "$bad": 1}, "must not start with $"),
        ({"external_id": "a", "tags": ["a", "a"]}, "unique"),
        ({"external_id": "a", "tags": [str(i) for i in range(26)]}, "more than 25"),
        ({"external_id": "a", "pet": {"bad key": 1}}, "must not contain"),
        ({"external_id": "a", "time_zone": "Mars/Base"}, "time_zone"),
        ({"external_id": "a", "_update_existing_only": "yes"}, "_update_existing_only"),
        ("not an object", "JSON objects"),
    ],
)
def test_invalid(obj, fragment):
    assert fragment in check(obj)


def test_billable_points_follow_braze_rules():
    obj = {
        "external_id": "a",
        "_update_existing_only": True,
        "email_subscribe": "opted_in",
        "push_subscribe": "subscribed",
        "subscription_groups": [],
        "push_tokens": [],
        "first_name": "Ann",
        "gone": None,
        "tags": ["a", "b", "c"],
        "more": {"add": ["x", "y"], "remove": ["z"]},
        "visits": {"inc": 1},
        "pet": {"name": "Rex", "age": 3},
    }
    assert billable_points(obj, "external_id") == {
        "first_name": 1,
        "gone": 1,
        "tags": 1,
        "more": 3,
        "visits": 1,
        "pet": 2,
    }
    assert billable_points({"email": "a@b.c", "x": 1}, "email") == {"x": 1}
