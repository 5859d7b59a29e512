"""Braze's documented rules for one /users/track attribute object, as the sandbox enforces them.

``check_attribute_object`` returns None for a valid object or the error text Braze would put in
the ``type`` of the per-object error. ``billable_points`` prices a valid object by Braze's
data-point rules (see BRAZE.md "Data points").
"""

from __future__ import annotations

import datetime as dt
import functools
import re
import zoneinfo

import pycountry

ID_KEYS = ("external_id", "braze_id", "user_alias")
CONTACT_IDS = ("email", "phone")
CONTROL_KEYS = frozenset({"_update_existing_only", "_merge_objects"})
NOT_BILLABLE = (
    frozenset(
        {
            "external_id",
            "braze_id",
            "user_alias",
            "email_subscribe",
            "push_subscribe",
            "subscription_groups",
            "push_tokens",
        }
    )
    | CONTROL_KEYS
)
MAX_STRING = 255
MAX_OBJECT_BYTES = 100 * 1024
GENDERS = frozenset({"M", "F", "O", "N", "P"})
SUBSCRIBE_STATES = frozenset({"opted_in", "subscribed", "unsubscribed"})
STRING_FIELDS = frozenset({"first_name", "last_name", "email", "phone", "home_city"})
TIME_FIELDS = frozenset(
    {"date_of_first_session", "date_of_last_session", "marked_email_as_spam_at"}
)
BOOL_FIELDS = frozenset({"email_open_tracking_disabled", "email_click_tracking_disabled"})
OTHER_FIELDS = frozenset({"push_tokens", "current_location", "facebook", "twitter"})
GROUP_STATES = frozenset({"subscribed", "unsubscribed"})
STANDARD_FIELDS = (
    STRING_FIELDS
    | TIME_FIELDS
    | BOOL_FIELDS
    | OTHER_FIELDS
    | {
        "subscription_groups",
        "dob",
        "gender",
        "country",
        "language",
        "time_zone",
        "email_subscribe",
        "push_subscribe",
    }
)
COUNTRIES = frozenset(c.alpha_2 for c in pycountry.countries)
_DOB = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_ISO_TIME = re.compile(
    r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$"
)
_BAD_OBJECT_KEY = re.compile(r"[\s.$]")
_SCALARS = frozenset({int, float, bool})


@functools.cache
def _languages() -> frozenset[str]:
    return frozenset(lang.alpha_2 for lang in pycountry.languages if hasattr(lang, "alpha_2"))


@functools.cache
def _time_zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def identifier_of(obj: dict) -> tuple[str, object] | str:
    """(kind, value) of the object's one identifier, or an error text."""
    present = [key for key in ID_KEYS if key in obj]
    if len(present) > 1:
        return f"Received more than one user identifier ({', '.join(present)}); send exactly one"
    if not present:
        present = [key for key in CONTACT_IDS if key in obj][:1]
        if not present:
            return "Missing user identifier: send one of external_id, braze_id, user_alias, email or phone"
    kind = present[0]
    value = obj[kind]
    if kind == "user_alias":
        if not (
            isinstance(value, dict)
            and isinstance(value.get("alias_name"), str)
            and isinstance(value.get("alias_label"), str)
        ):
            return "user_alias must be an object with string alias_name and alias_label"
        return kind, (value["alias_name"], value["alias_label"])
    if not isinstance(value, str) or not value:
        return f"{kind} must be a non-empty string"
    if len(value) > MAX_STRING:
        return f"{kind} is longer than {MAX_STRING} characters"
    return kind, value


def _string_field(key: str, value) -> str | None:
    if not isinstance(value, str):
        return f"{key} must be a string"
    if len(value) > MAX_STRING:
        return f"{key} is longer than {MAX_STRING} characters"
    return None


def _dob(key: str, value) -> str | None:
    if not isinstance(value, str) or not _DOB.match(value):
        return f"Invalid dob '{value}': use YYYY-MM-DD"
    try:
        dt.date.fromisoformat(value)
    except ValueError:
        return f"Invalid dob '{value}': not a calendar date"
    return None


def _member(allowed, hint: str):
    def check(key: str, value) -> str | None:
        return None if value in allowed() else f"Invalid {key} '{value}': {hint}"

    return check


def _time_field(key: str, value) -> str | None:
    if not isinstance(value, str) or not _ISO_TIME.match(value):
        return f"Invalid {key} '{value}': use an ISO 8601 time"
    return None


def _bool_field(key: str, value) -> str | None:
    return None if isinstance(value, bool) else f"{key} must be true or false"


def _any(key: str, value) -> str | None:
    return None


def check_group_state(item, where: str = "subscription_groups") -> str | None:
    """One {subscription_group_id, subscription_state} (Braze: state subscribed | unsubscribed)."""
    if not isinstance(item, dict):
        return f"{where} entries must be objects"
    group = item.get("subscription_group_id")
    if not isinstance(group, str) or not group:
        return f"{where}: subscription_group_id must be a non-empty string"
    if item.get("subscription_state") not in GROUP_STATES:
        return (
            f"Invalid subscription_state '{item.get('subscription_state')}' for group {group}: "
            "use subscribed or unsubscribed"
        )
    return None


def _subscription_groups(key: str, value) -> str | None:
    if not isinstance(value, list):
        return "subscription_groups must be an array of {subscription_group_id, subscription_state}"
    for item in value:
        error = check_group_state(item)
        if error:
            return error
    return None


_STANDARD_CHECKS = {
    **{name: _string_field for name in STRING_FIELDS},
    **{name: _time_field for name in TIME_FIELDS},
    **{name: _bool_field for name in BOOL_FIELDS},
    **{name: _any for name in OTHER_FIELDS},
    "subscription_groups": _subscription_groups,
    "dob": _dob,
    "gender": _member(lambda: GENDERS, "use M, F, O, N, P or null"),
    "country": _member(lambda: COUNTRIES, "use an ISO 3166-1 alpha-2 code"),
    "language": _member(_languages, "use an ISO 639-1 code"),
    "time_zone": _member(_time_zones, "use an IANA time zone name"),
    "email_subscribe": _member(
        lambda: SUBSCRIBE_STATES, "use opted_in, subscribed or unsubscribed"
    ),
    "push_subscribe": _member(lambda: SUBSCRIBE_STATES, "use opted_in, subscribed or unsubscribed"),
}


def _check_string_list(key: str, values, array_limit: int) -> str | None:
    if not isinstance(values, list):
        return f"Custom attribute '{key}': add/remove take an array of strings"
    for item in values:
        if not isinstance(item, str):
            return f"Custom attribute '{key}': array values must be strings"
        if len(item) > MAX_STRING:
            return f"Custom attribute '{key}': array value longer than {MAX_STRING} characters"
    if len(values) > array_limit:
        return f"Custom attribute '{key}': more than {array_limit} array values"
    return None


def _check_custom(key: str, value, array_limit: int, encoded_size) -> str | None:
    if key.startswith("$"):
        return f"Custom attribute name '{key}' must not start with $"
    if len(key) > MAX_STRING:
        return f"Custom attribute name '{key[:40]}...' is longer than {MAX_STRING} characters"
    if isinstance(value, str):
        if len(value) > MAX_STRING:
            return f"Custom attribute '{key}' value is longer than {MAX_STRING} characters"
    elif isinstance(value, list):
        if all(isinstance(item, dict) for item in value) and value:
            if encoded_size(value) > MAX_OBJECT_BYTES:
                return f"Custom attribute '{key}': array of objects larger than 100 KB"
            return None
        if len(set(value) if all(isinstance(v, str) for v in value) else value) != len(value):
            return f"Custom attribute '{key}': array values must be unique"
        return _check_string_list(key, value, array_limit)
    elif isinstance(value, dict):
        ops = value.keys()
        if ops and ops <= {"add", "remove"}:
            for op in ops:
                error = _check_string_list(key, value[op], array_limit)
                if error:
                    return error
        elif ops == {"inc"}:
            if not isinstance(value["inc"], int) or isinstance(value["inc"], bool):
                return f"Custom attribute '{key}': inc takes an integer"
        elif ops == {"$time"}:
            if not isinstance(value["$time"], str) or not _ISO_TIME.match(value["$time"]):
                return f"Custom attribute '{key}': $time takes an ISO 8601 time"
        else:
            bad = [k for k in ops if _BAD_OBJECT_KEY.search(k)]
            if bad:
                return f"Custom attribute '{key}': object key '{bad[0]}' must not contain spaces, '.' or '$'"
            if encoded_size(value) > MAX_OBJECT_BYTES:
                return f"Custom attribute '{key}': object larger than 100 KB"
    elif not isinstance(value, (bool, int, float)):
        return f"Custom attribute '{key}' has an unsupported type"
    return None


def check_attribute_object(obj, array_limit: int, encoded_size) -> tuple[str | None, str, object]:
    """(error text or None, identifier kind, identifier value) for one attribute object."""
    if not isinstance(obj, dict):
        return "Attribute entries must be JSON objects", "", None
    identifier = identifier_of(obj)
    if isinstance(identifier, str):
        return identifier, "", None
    update_only = obj.get("_update_existing_only", False)
    if update_only is not True and update_only is not False:
        return "_update_existing_only must be true or false", "", None
    checks = _STANDARD_CHECKS
    for key, value in obj.items():
        if value is None or key in ID_KEYS or key in CONTROL_KEYS:
            continue
        check = checks.get(key)
        if check is not None:
            error = check(key, value)
        elif not key:
            error = "Attribute names must not be empty"
        elif (
            key[0] != "$"
            and len(key) <= MAX_STRING
            and (type(value) in _SCALARS or (type(value) is str and len(value) <= MAX_STRING))
        ):
            continue  # the common custom attribute, checked inline for speed
        else:
            error = _check_custom(key, value, array_limit, encoded_size)
        if error:
            return error, "", None
    return None, identifier[0], identifier[1]


def billable_points(obj: dict, identifier_kind: str) -> dict[str, int]:
    """Data points per attribute name for one applied object (Braze's billing rules)."""
    points: dict[str, int] = {}
    for key, value in obj.items():
        if key in NOT_BILLABLE or key == identifier_kind:
            continue
        if type(value) is not dict:
            points[key] = 1
            continue
        ops = value.keys()
        if ops and ops <= {"add", "remove"}:
            cost = sum(len(value[op]) for op in ops)
        elif ops == {"inc"} or ops == {"$time"}:
            cost = 1
        else:
            cost = len(value)
        if cost:
            points[key] = cost
    return points
