"""Per-row normalisation of standard fields, each failure with a reason."""

from __future__ import annotations

import polars as pl
import pytest

from braze_assets.attributes import normalise


@pytest.mark.parametrize(
    "value, code",
    [
        ("male", "M"),
        ("M", "M"),
        ("Man", "M"),
        ("f", "F"),
        ("Female", "F"),
        ("Woman", "F"),
        (" FEMALE ", "F"),
        ("non-binary", "O"),
        ("Non Binary", "O"),
        ("other", "O"),
        ("n/a", "N"),
        ("Prefer not to say", "P"),
        ("prefer_not_to_say", "P"),
    ],
)
def test_gender_mapped(value, code):
    assert normalise.gender(value) == (code, None)


@pytest.mark.parametrize("value", ["unknown", "U", "?", "123", ""])
def test_gender_unknown_rejected(value):
    code, reason = normalise.gender(value)
    assert code is None and "unrecognised gender" in reason


@pytest.mark.parametrize(
    "value, code",
    [
        ("US", "US"),
        ("us", "US"),
        ("USA", "US"),
        ("U.S.A.", "US"),
        ("United States", "US"),
        ("United States of America", "US"),
        ("Deutschland", "DE"),
        ("Germany", "DE"),
        ("DEU", "DE"),
        ("UK", "GB"),
        ("United Kingdom", "GB"),
        ("France", "FR"),
        ("Viet Nam", "VN"),
        ("Bolivia", "BO"),
        ("日本", "JP"),
    ],
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


def test_lookup_keeps_row_order_and_nulls():
    values = pl.Series("gender", ["f", None, "male", "zzz", "f"])
    out, reasons = normalise.apply_lookup(
        values, normalise.outcomes("gender", ["zzz", "male", "f"])
    )
    assert out.to_list() == ["F", None, "M", None, "F"]
    assert reasons.to_list()[:3] == [None, None, None]
    assert reasons[3].startswith("unrecognised gender")


def email_like(rng) -> str:
    local_chars = "abcXYZ019._-+'!~"
    domain_chars = "abcxyz019.-"
    local = "".join(rng.choice(local_chars) for _ in range(rng.randint(0, 12)))
    labels = [
        "".join(rng.choice(domain_chars) for _ in range(rng.randint(0, 8)))
        for _ in range(rng.randint(1, 3))
    ]
    tld = rng.choice(["com", "io", "COM", "test", "local", "c0m", "x", "xn--p1ai", "co.uk", ""])
    domain = ".".join(labels + [tld])
    if rng.random() < 0.1:
        domain = domain.upper()
    return rng.choice(["", " "]) * (rng.random() < 0.05) + f"{local}@{domain}"


def test_plain_email_fast_path_agrees_with_email_validator():
    import random

    rng = random.Random(9)
    values = [email_like(rng) for _ in range(3000)] + [
        "ann@example.com",
        "Ann.Lee+x@mail.example.co.uk",
        "x" * 64 + "@a.com",
        "x" * 65 + "@a.com",
        "a@ab--c.com",
        "a@xn--bcher-kva.ch",
        "a@x.test",
        "a@" + "b" * 63 + ".com",
        "a@" + "b" * 64 + ".com",
        "a@" + ".".join(["b" * 60] * 4) + ".com",
        "o'neil@x.io",
        "a..b@x.com",
        ".a@x.com",
        "a.@x.com",
    ]
    fast = normalise.plain_emails(pl.Series(values)).to_list()
    assert 100 < sum(fast) < len(values)  # the generator exercises both paths
    got = normalise.outcomes("email", values).rows()
    lookup = {value: (normalised, reason) for value, normalised, reason in got}
    for value in values:
        expected = normalise.email(value)
        assert lookup[value][0] == expected[0], value
        assert (lookup[value][1] is None) == (expected[1] is None), value
