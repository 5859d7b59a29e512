"""Per-row normalisation of standard fields into the form Braze expects, with a reason when a value
cannot be brought into that form.

Each normaliser maps one text value to (normalised, None) or (None, reason). They run once per
distinct value (genders and countries repeat endlessly; phones and emails are parsed once each), and
the results are joined back onto the column, so the cost scales with distinct values, not rows.
"""

from __future__ import annotations

import re
import zoneinfo
from collections.abc import Callable
from functools import lru_cache

import phonenumbers
import polars as pl
import pycountry
from email_validator import SPECIAL_USE_DOMAIN_NAMES, EmailNotValidError, validate_email

from braze_assets.attributes.fields import SUBSCRIPTION_STATES

Outcome = tuple[str | None, str | None]


def _key(value: str) -> str:
    return re.sub(r"[\s_\-]+", " ", value.strip().lower()).strip(" .")


_GENDER_WORDS = {
    "M": (
        "m",
        "male",
        "man",
        "boy",
        "masculine",
        "mr",
        "h",
        "homme",
        "hombre",
        "masculino",
        "masculin",
        "männlich",
        "maennlich",
    ),
    "F": (
        "f",
        "female",
        "woman",
        "girl",
        "feminine",
        "w",
        "femme",
        "mujer",
        "femenino",
        "feminino",
        "féminin",
        "weiblich",
        "mrs",
        "ms",
        "miss",
    ),
    "O": (
        "o",
        "other",
        "non binary",
        "nonbinary",
        "nb",
        "enby",
        "genderqueer",
        "gender queer",
        "genderfluid",
        "gender fluid",
        "agender",
        "x",
        "diverse",
        "divers",
        "third gender",
        "two spirit",
    ),
    "N": ("n", "not applicable", "n/a", "na"),
    "P": (
        "p",
        "prefer not to say",
        "prefer not to answer",
        "prefer not to disclose",
        "rather not say",
        "declined",
        "decline to state",
        "undisclosed",
        "withheld",
    ),
}
_GENDER = {word: code for code, words in _GENDER_WORDS.items() for word in words}


def gender(value: str) -> Outcome:
    code = _GENDER.get(_key(value))
    return (code, None) if code else (None, "unrecognised gender (Braze accepts M, F, O, N, P)")


# Everyday names pycountry's ISO tables do not carry (endonyms, short forms, former names).
_COUNTRY_ALIASES = {
    "usa": "US",
    "u s a": "US",
    "u s": "US",
    "us of a": "US",
    "america": "US",
    "united states of america": "US",
    "uk": "GB",
    "u k": "GB",
    "great britain": "GB",
    "britain": "GB",
    "england": "GB",
    "scotland": "GB",
    "wales": "GB",
    "northern ireland": "GB",
    "deutschland": "DE",
    "españa": "ES",
    "espana": "ES",
    "brasil": "BR",
    "méxico": "MX",
    "turkey": "TR",
    "türkiye": "TR",
    "ivory coast": "CI",
    "holland": "NL",
    "the netherlands": "NL",
    "nederland": "NL",
    "russia": "RU",
    "south korea": "KR",
    "north korea": "KP",
    "vietnam": "VN",
    "czech republic": "CZ",
    "swaziland": "SZ",
    "macedonia": "MK",
    "burma": "MM",
    "schweiz": "CH",
    "suisse": "CH",
    "österreich": "AT",
    "italia": "IT",
    "polska": "PL",
    "sverige": "SE",
    "norge": "NO",
    "danmark": "DK",
    "suomi": "FI",
    "éire": "IE",
    "uae": "AE",
    "laos": "LA",
    "syria": "SY",
    "iran": "IR",
    "bolivia": "BO",
    "venezuela": "VE",
    "tanzania": "TZ",
    "moldova": "MD",
    "taiwan": "TW",
    "palestine": "PS",
    "vatican": "VA",
    "cape verde": "CV",
    "east timor": "TL",
    "nippon": "JP",
    "中国": "CN",
    "日本": "JP",
    "한국": "KR",
}


def country(value: str) -> Outcome:
    key = _key(value).replace(".", " ").strip()
    if key in _COUNTRY_ALIASES:
        return _COUNTRY_ALIASES[key], None
    try:
        return pycountry.countries.lookup(value.strip()).alpha_2, None
    except LookupError:
        pass
    # A name prefix such as "Korea" or "Congo" names more than one country: reject rather than guess.
    prefixed = {
        c.alpha_2
        for c in pycountry.countries
        if any(
            _key(n).startswith(key)
            for n in (c.name, getattr(c, "common_name", ""), getattr(c, "official_name", ""))
            if n
        )
    }
    if len(prefixed) == 1 and len(key) >= 4:
        return prefixed.pop(), None
    if len(prefixed) > 1:
        return None, f"ambiguous country (could be {', '.join(sorted(prefixed))})"
    return None, "not a recognised country name or ISO code"


def phone(value: str, region: str) -> Outcome:
    try:
        number = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException:
        return None, "not a phone number"
    if not phonenumbers.is_valid_number(number):
        return None, "not a valid phone number"
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164), None


def email(value: str) -> Outcome:
    try:
        return validate_email(value.strip(), check_deliverability=False).normalized, None
    except EmailNotValidError as error:
        return None, f"invalid email: {error}"


# A plain ASCII address with a lowercase domain (most of them) is one email-validator accepts and
# returns unchanged exactly when it passes these tests, so it skips the full parse. Anything else
# (Unicode, upper-case domains, punycode, special-use names, quoting, spaces) is parsed in full.
_ATEXT = r"A-Za-z0-9_!#$%\&'*+\-/=?^`{|}\~"
_LABEL = r"[a-z0-9](?:[a-z0-9\-]{0,61}[a-z0-9])?"
_PLAIN_EMAIL = rf"^[{_ATEXT}]+(?:\.[{_ATEXT}]+)*@(?:{_LABEL}\.)+[a-z]{{2,63}}$"
_NOT_PLAIN = rf"[@.][a-z0-9]{{2}}--|\.(?:{'|'.join(SPECIAL_USE_DOMAIN_NAMES)})$"
_MAX_LOCAL, _MAX_EMAIL = 64, 254


def plain_emails(values: pl.Series) -> pl.Series:
    """True where the value is a valid email that needs no normalisation (see above)."""
    return (
        values.str.contains(_PLAIN_EMAIL)
        & ~values.str.contains(_NOT_PLAIN)
        & (values.str.find("@") <= _MAX_LOCAL)
        & (values.str.len_bytes() <= _MAX_EMAIL)
    ).fill_null(False)


def language(value: str) -> Outcome:
    text = value.strip()
    # Locales such as en-US or pt_BR carry the language first.
    code = (
        re.split(r"[-_]", text)[0].lower()
        if re.fullmatch(r"[A-Za-z]{2}([-_][A-Za-z0-9]+)*", text)
        else None
    )
    found = pycountry.languages.get(alpha_2=code) if code else None
    if found is None:
        try:
            found = pycountry.languages.lookup(text)
        except LookupError:
            found = None
    if found is None or not hasattr(found, "alpha_2"):
        return None, "not an ISO 639-1 language"
    return found.alpha_2, None


@lru_cache(maxsize=1)
def _zones() -> dict[str, str]:
    return {zone.lower(): zone for zone in zoneinfo.available_timezones()}


def time_zone(value: str) -> Outcome:
    zone = _zones().get(value.strip().lower())
    return (zone, None) if zone else (None, "not an IANA time zone name")


def subscription(value: str) -> Outcome:
    state = _key(value).replace(" ", "_").replace("optedin", "opted_in")
    if state in SUBSCRIPTION_STATES:
        return state, None
    return None, f"must be one of {', '.join(SUBSCRIPTION_STATES)}"


TEXT_CHECKS: dict[str, Callable[..., Outcome]] = {
    "gender": gender,
    "country": country,
    "phone": phone,
    "email": email,
    "language": language,
    "time_zone": time_zone,
    "subscription": subscription,
}


LOOKUP_SCHEMA = {"value": pl.String, "normalised": pl.String, "reason": pl.String}


def outcomes(check: str, distinct: list[str], *, phone_region: str = "US") -> pl.DataFrame:
    """value -> (normalised, reason) for each distinct value."""
    function = TEXT_CHECKS[check]
    plain: list[str] = []
    if check == "email":
        series = pl.Series(distinct, dtype=pl.String)
        mask = plain_emails(series)
        plain, distinct = series.filter(mask).to_list(), series.filter(~mask).to_list()
    results = [function(v, phone_region) if check == "phone" else function(v) for v in distinct]
    return pl.DataFrame(
        {
            "value": plain + distinct,
            "normalised": plain + [r[0] for r in results],
            "reason": [None] * len(plain) + [r[1] for r in results],
        },
        schema=LOOKUP_SCHEMA,
    )


def apply_lookup(values: pl.Series, lookup: pl.DataFrame) -> tuple[pl.Series, pl.Series]:
    """(normalised values, rejection reasons) in row order, from a value lookup."""
    joined = pl.DataFrame({"value": values.cast(pl.String)}).join(
        lookup, on="value", how="left", maintain_order="left"
    )
    return joined["normalised"].alias(values.name), joined["reason"].alias("reason")
