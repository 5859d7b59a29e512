"""Per-row normalisation of standard fields, each failure with a reason."""

from __future__ import annotations

import polars as pl
import pytest

from braze_assets.attributes import normalise


@pytest.mark.parametrize(
    "value, code",
    [("male", "M"), ("M", "M"), ("Man", "M"), ("f", "F"), ("Female", "F"), ("Woman", "F"), (" FEMALE ", "F"),
     ("non-binary", "O"), ("Non Binary", "O"), ("other", "O"), ("n/a", "N"), ("Prefer not to say", "P"),
     ("prefer_not_to_say", "P")],
)
def test_gender_mapped(value, code):
    assert normalise.gender(value) == (code, None)


@pytest.mark.parametrize("value", ["unknown", "U", "?", "123", ""])
def test_gender_unknown_rejected(value):
    code, reason = normalise.gender(value)
    assert code is None and "unrecognised gender" in reason


@pytest.mark.parametrize(
    "value, code",
    [("US", "US"), ("us", "US"), ("USA", "US"), ("U.S.A.", "US"), ("United States", "US"),
     ("United States of America", "US"), ("Deutschland", "DE"), ("Germany", "DE"), ("DEU", "DE"), ("UK", "GB"),
     ("United Kingdom", "GB"), ("France", "FR"), ("Viet Nam", "VN"), ("Bolivia", "BO"), ("日本", "JP")],
)
def test_country_to_alpha2(value, code):
    assert normalise.country(value) == (code, None)


def test_country_failures_have_reasons():
    assert normalise.country("Narnia") == (None, "not a recognised country name or ISO code")
    code, reason = normalise.country("Korea")
    assert code is None and "ambiguous" in reason and "KP" in reason and "KR" in reason


def test_phone_to_e164():
    assert normalise.phone("(415) 555-2671", "US") == ("+14155552671", None)
    assert normalise.phone("+44 20 7946 0958", "US") == ("+442079460958", None)
    assert normalise.phone("030 901820", "DE") == ("+4930901820", None)
    assert normalise.phone("123", "US") == (None, "not a valid phone number")
    assert normalise.phone("call me", "US") == (None, "not a phone number")


def test_email_syntax_without_dns():
    assert normalise.email(" Ann@Example.COM ") == ("Ann@example.com", None)
    assert normalise.email("名前@例え.jp")[1] is None
    for bad in ("bad@", "no-at-sign", "a@@b.com", "a b@c.com"):
        value, reason = normalise.email(bad)
        assert value is None and reason.startswith("invalid email:")


def test_language_time_zone_subscription():
    assert normalise.language("en-US") == ("en", None)
    assert normalise.language("German") == ("de", None)
    assert normalise.language("zz")[1] == "not an ISO 639-1 language"
    assert normalise.time_zone("america/new_york") == ("America/New_York", None)
    assert normalise.time_zone("Mars/Olympus")[1] == "not an IANA time zone name"
    assert normalise.subscription("Opted-In") == ("opted_in", None)
    assert normalise.subscription("unsubscribed") == ("unsubscribed", None)
    assert "must be one of" in normalise.subscription("yes")[1]


def test_normalise_text_keeps_row_order_and_nulls():
    values = pl.Series("gender", ["f", None, "male", "zzz", "f"])
    out, reasons = normalise.normalise_text("gender", values)
    assert out.to_list() == ["F", None, "M", None, "F"]
    assert reasons.to_list()[:3] == [None, None, None]
    assert reasons[3].startswith("unrecognised gender")
