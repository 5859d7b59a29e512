"""Braze's standard profile fields, the names people use for them by mistake, and what is billable.

Source: Braze's documentation of profile fields and data points. Any name not listed as a
standard field becomes a custom attribute in Braze, silently: "birthday" creates a custom attribute
and leaves `dob` untouched, which is exactly the mistake the lint rules below exist to catch.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class StandardField:
    kinds: tuple[str, ...]  # declared types Braze accepts for the field
    check: str | None = None  # per-row normaliser in attributes.normalise, by name
    mappable: bool = True  # arrays/objects (push tokens, locations) are not scalar attributes
    note: str = ""


_TEXT = ("string", "varchar")
STANDARD_FIELDS: dict[str, StandardField] = {
    "first_name": StandardField(_TEXT),
    "last_name": StandardField(_TEXT),
    "email": StandardField(_TEXT, "email"),
    "phone": StandardField(_TEXT, "phone"),
    "dob": StandardField(("date",), "dob", note='sent as "YYYY-MM-DD"'),
    "gender": StandardField(_TEXT, "gender", note='one of "M", "F", "O", "N", "P"'),
    "country": StandardField(_TEXT, "country", note="ISO 3166-1 alpha-2"),
    "home_city": StandardField(_TEXT),
    "language": StandardField(_TEXT, "language", note="ISO 639-1"),
    "time_zone": StandardField(_TEXT, "time_zone", note="IANA time zone name"),
    "email_subscribe": StandardField(
        _TEXT, "subscription", note="opted_in | subscribed | unsubscribed"
    ),
    "push_subscribe": StandardField(
        _TEXT, "subscription", note="opted_in | subscribed | unsubscribed"
    ),
    "date_of_first_session": StandardField(("datetime", "date")),
    "date_of_last_session": StandardField(("datetime", "date")),
    "email_open_tracking_disabled": StandardField(("boolean",)),
    "email_click_tracking_disabled": StandardField(("boolean",)),
    "marked_email_as_spam_at": StandardField(("datetime",)),
    "subscription_groups": StandardField((), mappable=False, note="an array of objects"),
    "push_tokens": StandardField((), mappable=False, note="an array of objects"),
    "current_location": StandardField((), mappable=False, note="an object"),
    "facebook": StandardField((), mappable=False, note="an object"),
    "twitter": StandardField((), mappable=False, note="an object"),
}

# An external_id destination's customer without an external id, with alias profiles on
# (sync.lifecycle.aliases), is keyed "user_alias:<alias_label>:<alias_name>" and sent as user_alias.
ALIAS_KEY_PREFIX = "user_alias:"


def alias_key(label: str, name: str) -> str:
    return f"{ALIAS_KEY_PREFIX}{label}:{name}"


# Identifiers name the profile; they are declared on the destination, never mapped as attributes.
IDENTIFIER_KINDS = ("external_id", "braze_id", "user_alias")

SUBSCRIPTION_STATES = ("opted_in", "subscribed", "unsubscribed")
GENDER_CODES = ("M", "F", "O", "N", "P")

# Not billed by Braze: subscription state, push tokens, ids and aliases.
NON_BILLABLE = frozenset(
    {
        "email_subscribe",
        "push_subscribe",
        "subscription_groups",
        "push_tokens",
        "_update_existing_only",
        *IDENTIFIER_KINDS,
    }
)

# Names (compared lowercase with separators removed) that mean a standard field.
_SYNONYMS: dict[str, tuple[str, ...]] = {
    "dob": ("birthday", "birthdate", "dateofbirth", "birthdt", "bday", "bdate"),
    "first_name": ("firstname", "first", "fname", "givenname", "forename"),
    "last_name": ("lastname", "last", "lname", "surname", "familyname"),
    "email": ("emailaddress", "mail", "emailaddr"),
    "phone": (
        "phonenumber",
        "mobile",
        "mobilenumber",
        "mobilephone",
        "cell",
        "cellphone",
        "telephone",
        "tel",
        "msisdn",
    ),
    "home_city": ("city", "hometown", "town"),
    "country": ("countrycode", "countryiso", "nation"),
    "gender": ("sex",),
    "language": ("lang", "languagecode"),
    "time_zone": ("timezone", "tz"),
    "email_subscribe": (
        "emailoptin",
        "emailsubscribed",
        "emailsubscription",
        "emailsubscribestatus",
    ),
    "push_subscribe": ("pushoptin", "pushsubscribed", "pushsubscription"),
}


def squash(name: str) -> str:
    return re.sub(r"[^0-9a-z]", "", name.lower())


_MEANS: dict[str, str] = {squash(field): field for field in STANDARD_FIELDS}
for _field, _names in _SYNONYMS.items():
    _MEANS.update({squash(n): _field for n in _names})


def standard_field_meant(name: str) -> str | None:
    """The standard field a non-standard name most likely means (e.g. "Birthday" -> "dob")."""
    if name in STANDARD_FIELDS:
        return None
    return _MEANS.get(squash(name))


def is_billable(attribute_name: str) -> bool:
    """Whether writing this attribute costs a Braze data point."""
    return attribute_name not in NON_BILLABLE
