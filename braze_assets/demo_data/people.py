"""The true people behind the demo records: one clean row per person, before any source sees them.

Everything is drawn column-wise with numpy so a million people take seconds. Households (two people
at one address, sometimes sharing an email), name twins (two people with the same name in the same
town) and movers (an old and a new address) are built in here because they are facts about people;
the per-source noise (typos, formats, junk) comes later in `noise.py`.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import polars as pl

from braze_assets.demo_data.reference import (
    ABROAD,
    EMAIL_DOMAINS,
    STREET_NAMES,
    STREET_SUFFIXES,
    SUFFIX_WEIGHTS,
    Reference,
)
from braze_assets.demo_data.sources import epoch_end

HOUSEHOLD_SHARE = 0.12  # share of person pairs (2k, 2k+1) living together
HOUSEHOLD_SAME_SURNAME = 0.7
HOUSEHOLD_SHARED_EMAIL = 0.3
NAME_TWIN_SHARE = 0.006
MOVER_SHARE = 0.12
ABROAD_SHARE = 0.025
LOYALTY_ID_BASE = 6_000_000_000


def _digits(rng: np.random.Generator, n: int, width: int) -> pl.Series:
    return pl.Series(rng.integers(0, 10**width, n)).cast(pl.String).str.zfill(width)


def _address(rng: np.random.Generator, n: int, ref: Reference) -> dict[str, np.ndarray]:
    zip_idx = rng.integers(0, len(ref.zips), n)
    has_unit = rng.random(n) < 0.15
    unit = np.where(has_unit, rng.integers(1, 40, n).astype(str), "")
    unit = np.where(
        has_unit & (rng.random(n) < 0.4), np.char.add(unit, rng.choice(list("ABCD"), n)), unit
    )
    return {
        "house_number": rng.integers(1, 9900, n).astype(str),
        "street": np.asarray(STREET_NAMES)[rng.integers(0, len(STREET_NAMES), n)],
        "suffix_idx": rng.choice(len(STREET_SUFFIXES), n, p=SUFFIX_WEIGHTS),
        "unit": unit,
        "city": ref.zip_city[zip_idx],
        "state": ref.zip_state[zip_idx],
        "postal_code": ref.zips[zip_idx],
        "area_code": ref.zip_area[zip_idx],
    }


def _email_local(given: pl.Expr, surname: pl.Expr, pattern: pl.Expr, number: pl.Expr) -> pl.Expr:
    first, last = given.str.to_lowercase(), surname.str.to_lowercase()
    return (
        pl.when(pattern == 0)
        .then(first + "." + last)
        .when(pattern == 1)
        .then(first + last)
        .when(pattern == 2)
        .then(first.str.slice(0, 1) + last)
        .when(pattern == 3)
        .then(first + "." + last + number.str.slice(0, 2))
        .when(pattern == 4)
        .then(first + number)
        .when(pattern == 5)
        .then(first + "_" + last)
        .when(pattern == 6)
        .then(last + first.str.slice(0, 1) + number.str.slice(0, 2))
        .otherwise(first.str.slice(0, 1) + "." + last + number.str.slice(0, 3))
    )


def _unique_emails(emails: pl.Series, rng: np.random.Generator) -> pl.Series:
    """Different people get different personal emails; households share on purpose, later."""
    for _ in range(8):
        clash = (emails.is_duplicated() & ~emails.is_first_distinct()).to_numpy()
        if not clash.any():
            return emails
        parts = emails.str.split_exact("@", 1).struct.unnest()
        extra = pl.Series(rng.integers(0, 10_000, len(emails))).cast(pl.String)
        bumped = parts["field_0"] + extra + "@" + parts["field_1"]
        emails = (
            pl.select(pl.when(pl.Series(clash)).then(bumped).otherwise(emails))
            .to_series()
            .alias("email")
        )
    raise RuntimeError("could not make personal emails unique")


def generate_people(n: int, rng: np.random.Generator, as_of: date, ref: Reference) -> pl.DataFrame:
    sex = np.where(rng.random(n) < 0.52, "F", "M")
    female = sex == "F"
    given = np.where(
        female,
        ref.female_names[rng.choice(len(ref.female_names), n, p=ref.female_p)],
        ref.male_names[rng.choice(len(ref.male_names), n, p=ref.male_p)],
    )
    surname = ref.surnames[rng.choice(len(ref.surnames), n, p=ref.surname_p)]
    gender = np.where(rng.random(n) < 0.015, "O", sex)
    age_days = rng.integers(18 * 365, 85 * 365, n)
    birthdate = np.datetime64(as_of) - age_days.astype("timedelta64[D]")

    addr = _address(rng, n, ref)
    country = np.full(n, "US", dtype=object)
    phone_cc = np.full(n, "1", dtype=object)
    exchange = rng.integers(200, 1000, n)
    # N11 exchanges (411, 911, ...) are never assigned; moving them keeps every number valid.
    exchange = np.where(exchange % 100 == 11, exchange + 1, exchange)
    phone_nat = (
        (
            pl.Series(addr["area_code"].astype(str))
            + pl.Series(exchange).cast(pl.String)
            + _digits(rng, n, 4)
        )
        .to_numpy()
        .astype(object)
    )
    abroad = rng.random(n) < ABROAD_SHARE
    a_idx = rng.integers(0, len(ABROAD), n)
    abroad_table = np.array(ABROAD, dtype=object)
    for col, k in (("city", 1), ("state", 2), ("postal_code", 3)):
        addr[col] = np.where(abroad, abroad_table[a_idx, k], addr[col]).astype(object)
    country = np.where(abroad, abroad_table[a_idx, 0], country)
    calling = np.array([p.split()[0][1:] for p in abroad_table[:, 4]], dtype=object)
    national_prefix = np.array(["".join(p.split()[1:]) for p in abroad_table[:, 4]], dtype=object)
    phone_cc = np.where(abroad, calling[a_idx], phone_cc)
    fill = _digits(rng, n, 10).to_numpy().astype(object)
    where = np.flatnonzero(abroad)
    # Ten national digits abroad too: the city prefix, then random digits.
    phone_nat[where] = [
        national_prefix[a] + f[: 10 - len(national_prefix[a])]
        for a, f in zip(a_idx[where], fill[where], strict=True)
    ]

    people = pl.DataFrame(
        {
            "person_id": np.arange(n, dtype=np.int64),
            "sex": sex,
            "gender": gender,
            "given_name": given,
            "surname": surname,
            "birthdate": birthdate.astype("datetime64[D]"),
            "house_number": addr["house_number"],
            "street": addr["street"],
            "suffix_idx": addr["suffix_idx"],
            "unit": addr["unit"],
            "city": addr["city"].astype(str),
            "state": addr["state"].astype(str),
            "postal_code": addr["postal_code"].astype(str),
            "country": country.astype(str),
            "phone_cc": phone_cc.astype(str),
            "phone_nat": phone_nat.astype(str),
        }
    ).with_columns(pl.col("birthdate").cast(pl.Date))
    people = _households_and_twins(people, rng)
    people = _emails(people, rng)
    people = _movers(people, rng, as_of, ref)
    member = rng.random(n)
    people = people.with_columns(
        loyalty_number=pl.Series(LOYALTY_ID_BASE + rng.permutation(n * 3)[:n].astype(np.int64)),
        loyalty_draw=pl.Series(member),
        app_share=pl.Series(rng.beta(1.0, 2.0, n)),
        spend_scale=pl.Series(rng.lognormal(0.0, 0.45, n)),
    )
    return people


def _households_and_twins(people: pl.DataFrame, rng: np.random.Generator) -> pl.DataFrame:
    n = people.height
    idx = np.arange(n)
    pair_draw = rng.random(n // 2 + 1)
    is_partner = (idx % 2 == 1) & (pair_draw[idx // 2] < HOUSEHOLD_SHARE)
    head = np.where(is_partner, idx - 1, idx)
    same_surname = is_partner & (rng.random(n) < HOUSEHOLD_SAME_SURNAME)
    share_email = is_partner & (rng.random(n) < HOUSEHOLD_SHARED_EMAIL)
    # A name twin copies another person's name and town (not street, not anything else).
    twin = (~is_partner) & (rng.random(n) < NAME_TWIN_SHARE) & (idx > 0)
    twin_of = np.where(twin, rng.integers(0, np.maximum(idx, 1)), idx)

    def take(col, src, mask):
        return pl.Series(np.where(mask, people[col].to_numpy()[src], people[col].to_numpy()))

    address_cols = (
        "house_number",
        "street",
        "suffix_idx",
        "unit",
        "city",
        "state",
        "postal_code",
        "country",
    )
    updates = {c: take(c, head, is_partner) for c in address_cols}
    updates["surname"] = take("surname", head, same_surname)
    people = people.with_columns(**updates)
    updates = {
        c: take(c, twin_of, twin)
        for c in ("given_name", "surname", "city", "state", "postal_code", "country")
    }
    return people.with_columns(
        **updates,
        household_head=pl.Series(head),
        shares_email=pl.Series(share_email),
        name_twin_of=pl.Series(np.where(twin, twin_of, -1)),
    )


def _emails(people: pl.DataFrame, rng: np.random.Generator) -> pl.DataFrame:
    n = people.height
    domains, weights = zip(*EMAIL_DOMAINS, strict=True)
    w = np.asarray(weights) / sum(weights)
    frame = pl.DataFrame(
        {
            "g": people["given_name"],
            "s": people["surname"],
            "pattern": rng.integers(0, 8, n),
            "number": _digits(rng, n, 4),
            "domain": np.asarray(domains)[rng.choice(len(domains), n, p=w)],
        }
    )
    local = _email_local(pl.col("g"), pl.col("s"), pl.col("pattern"), pl.col("number"))
    emails = frame.select((local + "@" + pl.col("domain")).alias("email"))["email"]
    emails = _unique_emails(emails, rng)
    head = people["household_head"].to_numpy()
    household = pl.select(pl.when(people["shares_email"]).then(emails.gather(head))).to_series()
    # A second, older address some people used before (ISP mail, college) for sources that predate it.
    alt_pattern = pl.Series(rng.integers(0, 8, n))
    alt = pl.DataFrame(
        {
            "g": people["given_name"],
            "s": people["surname"],
            "p": alt_pattern,
            "d": _digits(rng, n, 4),
        }
    ).select(
        (
            _email_local(pl.col("g"), pl.col("s"), pl.col("p"), pl.col("d"))
            + pl.col("d").str.slice(2, 2)
            + "@aol.com"
        ).alias("alt")
    )["alt"]
    return people.with_columns(email=emails, household_email=household, old_email=alt)


def _movers(
    people: pl.DataFrame, rng: np.random.Generator, as_of: date, ref: Reference
) -> pl.DataFrame:
    n = people.height
    moved = (rng.random(n) < MOVER_SHARE) & (people["country"].to_numpy() == "US")
    old = _address(rng, n, ref)
    # Half of moves stay in the same town (new street, same ZIP), as most real moves are local.
    local = rng.random(n) < 0.5
    for col in ("city", "state", "postal_code"):
        old[col] = np.where(local, people[col].to_numpy(), old[col])
    end = epoch_end(as_of)
    move_at = end - (rng.random(n) * 3 * 365 * 86400).astype(np.int64)
    head = people["household_head"].to_numpy()
    partner = head != np.arange(n)
    # Partners move together with the head of the household.
    moved = np.where(partner, moved[head], moved)
    move_at = np.where(partner, move_at[head], move_at)
    for col in old:
        old[col] = np.where(partner, old[col][head], old[col])
    return people.with_columns(
        moved=pl.Series(moved),
        move_at=pl.Series(move_at),
        old_house_number=pl.Series(old["house_number"]),
        old_street=pl.Series(old["street"]),
        old_suffix_idx=pl.Series(old["suffix_idx"]),
        old_unit=pl.Series(old["unit"]),
        old_city=pl.Series(old["city"].astype(str)),
        old_state=pl.Series(old["state"].astype(str)),
        old_postal_code=pl.Series(old["postal_code"].astype(str)),
    )
