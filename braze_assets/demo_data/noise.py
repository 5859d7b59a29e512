"""Realistic damage done to clean values as they pass through a source system.

Each function takes a column and a generator and returns the damaged column; rates are per value.
Vectorised with polars where the change is a format, with Python only on the small share of values
that get a per-character edit (typos, nicknames).
"""

from __future__ import annotations

from functools import cache, lru_cache

import numpy as np
import polars as pl
from nicknames import NickNamer

from braze_assets.demo_data.reference import STATE_NAMES, STREET_SUFFIXES

JUNK_EMAILS = (
    "test@test.com",
    "none@none.com",
    "noemail@noemail.com",
    "N/A",
    "unknown",
    "na@na.com",
    "x@x.com",
)
JUNK_PHONES = ("000-000-0000", "999-999-9999", "123-456-7890", "N/A", "unknown", "0000000000")
JUNK_NAMES = ("Unknown", "N/A", "Customer", "TEST", "Cash Customer")
EMAIL_TAGS = ("shop", "promo", "news", "store", "deals", "2024", "rewards")
_KEYBOARD = {
    c: n for c, n in zip("abcdefghijklmnopqrstuvwxyz", "qvxsrdfgujkopbiolteyibwzth", strict=True)
}


def where(mask: np.ndarray, then: pl.Series | str | None, otherwise: pl.Series) -> pl.Series:
    value = then if isinstance(then, pl.Series) else pl.lit(then, dtype=pl.String)
    return (
        pl.select(pl.when(pl.Series(mask)).then(value).otherwise(otherwise))
        .to_series()
        .alias(otherwise.name)
    )


def blank(values: pl.Series, rng: np.random.Generator, rate: float) -> pl.Series:
    return where(rng.random(len(values)) < rate, None, values)


def junk(
    values: pl.Series, rng: np.random.Generator, rate: float, choices: tuple[str, ...]
) -> pl.Series:
    picked = pl.Series(np.asarray(choices)[rng.integers(0, len(choices), len(values))])
    return where(rng.random(len(values)) < rate, picked, values)


def _edit_subset(values: pl.Series, mask: np.ndarray, draws: np.ndarray, edit) -> pl.Series:
    where_ = np.flatnonzero(mask)
    if not len(where_):
        return values
    edited = [
        edit(v, int(d)) if v else v
        for v, d in zip(values.gather(where_).to_list(), draws[where_], strict=True)
    ]
    return values.clone().scatter(where_, pl.Series(edited, dtype=pl.String))


def _typo(word: str, r: int) -> str:
    if len(word) < 4:
        return word
    # The first letter survives: people rarely get it wrong, and blocking often relies on it.
    i = 1 + r % (len(word) - 2)
    op = (r // 97) % 4
    if op == 0:
        return word[:i] + word[i + 1] + word[i] + word[i + 2 :]
    if op == 1:
        return word[:i] + word[i + 1 :]
    if op == 2:
        return word[:i] + word[i] + word[i:]
    swapped = _KEYBOARD.get(word[i].lower(), word[i])
    return word[:i] + (swapped.upper() if word[i].isupper() else swapped) + word[i + 1 :]


def typo(values: pl.Series, rng: np.random.Generator, rate: float) -> pl.Series:
    return _edit_subset(
        values, rng.random(len(values)) < rate, rng.integers(0, 1 << 30, len(values)), _typo
    )


@lru_cache(maxsize=1)
def _nicknamer() -> NickNamer:
    return NickNamer()


@cache
def _nicknames_of(name: str) -> tuple[str, ...]:
    found = _nicknamer().nicknames_of(name.lower())
    return tuple(sorted(n.title() for n in found if n.isalpha() and len(n) >= 2))


def _nickname(name: str, r: int) -> str:
    options = _nicknames_of(name)
    return options[r % len(options)] if options else name


def nickname(values: pl.Series, rng: np.random.Generator, rate: float) -> pl.Series:
    return _edit_subset(
        values, rng.random(len(values)) < rate, rng.integers(0, 1 << 30, len(values)), _nickname
    )


def letter_case(
    values: pl.Series, rng: np.random.Generator, upper: float, lower: float = 0.0
) -> pl.Series:
    u = rng.random(len(values))
    return (
        pl.select(
            pl.when(pl.Series(u < upper))
            .then(values.str.to_uppercase())
            .when(pl.Series(u > 1 - lower))
            .then(values.str.to_lowercase())
            .otherwise(values)
        )
        .to_series()
        .alias(values.name)
    )


def email_variants(
    emails: pl.Series, rng: np.random.Generator, *, case: float, tag: float, space: float = 0.0
) -> pl.Series:
    """Same mailbox, different spelling: `John.Smith@Gmail.com`, `john.smith+promo@gmail.com`, ` john@x.com `."""
    n = len(emails)
    parts = emails.str.split_exact("@", 1).struct.unnest()
    local, domain = parts["field_0"], parts["field_1"]
    tags = pl.Series(np.asarray(EMAIL_TAGS)[rng.integers(0, len(EMAIL_TAGS), n)])
    u = rng.random(n)
    tagged = pl.select(
        pl.when(pl.Series(rng.random(n) < tag)).then(local + "+" + tags).otherwise(local)
    ).to_series()
    out = pl.select(
        pl.when(pl.Series(u < case / 2))
        .then((tagged + "@" + domain).str.to_uppercase())
        .when(pl.Series(u < case))
        .then(tagged.str.to_titlecase() + "@" + domain.str.to_titlecase())
        .otherwise(tagged + "@" + domain)
    ).to_series()
    out = where(rng.random(n) < space, " " + out + " ", out)
    # A value without '@' (junk placed earlier) passes through untouched.
    return where(emails.str.contains("@").fill_null(False).to_numpy(), out, emails).alias(
        emails.name
    )


def phone_formats(
    cc: pl.Series, national: pl.Series, rng: np.random.Generator, weights: tuple[float, ...]
) -> pl.Series:
    """US numbers in the many ways people type them; others always with their country code."""
    n = len(national)
    fmt = pl.Series(rng.choice(7, n, p=np.asarray(weights) / sum(weights)))
    area, exch, line = national.str.slice(0, 3), national.str.slice(3, 3), national.str.slice(6, 4)
    us = (
        pl.when(fmt == 0)
        .then("(" + area + ") " + exch + "-" + line)
        .when(fmt == 1)
        .then(area + "-" + exch + "-" + line)
        .when(fmt == 2)
        .then(area + "." + exch + "." + line)
        .when(fmt == 3)
        .then("+1 " + area + " " + exch + " " + line)
        .when(fmt == 4)
        .then(national)
        .when(fmt == 5)
        .then("1-" + area + "-" + exch + "-" + line)
        .otherwise("+1" + national)
    )
    spaced = "+" + cc + " " + area + " " + exch + " " + line
    abroad = pl.when(fmt.is_in([3, 6])).then("+" + cc + national).otherwise(spaced)
    return pl.select(pl.when(cc == "1").then(us).otherwise(abroad)).to_series().alias("phone")


def street_line(
    house: pl.Series,
    street: pl.Series,
    suffix_idx: pl.Series,
    unit: pl.Series,
    rng: np.random.Generator,
    *,
    abbreviate: float,
    upper: float,
) -> pl.Series:
    """`12 Oak Street Apt 4` / `12 Oak St.` / `12 OAK ST #4`: one address, many spellings."""
    n = len(house)
    full = pl.Series([s[0] for s in STREET_SUFFIXES])
    abbr = pl.Series([s[1] for s in STREET_SUFFIXES])
    u = rng.random(n)
    suffix = pl.select(
        pl.when(pl.Series(u < abbreviate * 0.6))
        .then(abbr.gather(suffix_idx))
        .when(pl.Series(u < abbreviate))
        .then(abbr.gather(suffix_idx) + ".")
        .otherwise(full.gather(suffix_idx))
    ).to_series()
    unit_kind = pl.Series(np.asarray(["Apt ", "#", "Unit ", "Apt. "])[rng.integers(0, 4, n)])
    sep = pl.Series(np.where(rng.random(n) < 0.3, ", ", " "))
    line = house + " " + street + " " + suffix
    line = pl.select(
        pl.when(unit != "").then(line + sep + unit_kind + unit).otherwise(line)
    ).to_series()
    return letter_case(line, rng, upper).alias("address_line1")


def state_variants(state: pl.Series, rng: np.random.Generator, full_name: float) -> pl.Series:
    names = state.replace_strict(STATE_NAMES, default=state)
    return where(rng.random(len(state)) < full_name, names, state).alias(state.name)


def postal_variants(
    postal: pl.Series,
    country: pl.Series,
    rng: np.random.Generator,
    *,
    zip4: float,
    lost_zero: float,
) -> pl.Series:
    """ZIP+4 from address validation; a lost leading zero from a spreadsheet round trip."""
    n = len(postal)
    us = (country == "US").to_numpy()
    plus4 = postal + "-" + pl.Series(rng.integers(0, 10_000, n)).cast(pl.String).str.zfill(4)
    out = where(us & (rng.random(n) < zip4), plus4, postal)
    stripped = out.str.strip_chars_start("0")
    return where(us & (rng.random(n) < lost_zero), stripped, out).alias(postal.name)


def country_variants(country: pl.Series, rng: np.random.Generator, rate: float) -> pl.Series:
    spelled = country.replace_strict(
        {"US": "USA", "CA": "Canada", "GB": "United Kingdom", "DE": "Germany"}, default=country
    )
    return where(rng.random(len(country)) < rate, spelled, country).alias(country.name)
