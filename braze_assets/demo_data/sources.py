"""The four customer-record sources of the demo retailer, each a noisy view of some of the people."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time

import numpy as np
import polars as pl

from braze_assets.demo_data import noise

THREE_YEARS = 3 * 365 * 86400
TIERS = ("Bronze", "Silver", "Gold", "Platinum")
SIGNUP_SOURCES = ("website_footer", "checkout", "in_store", "contest", "pop_up")


@dataclass(frozen=True)
class Membership:
    ecommerce: np.ndarray
    loyalty: np.ndarray
    pos: np.ndarray
    email_list: np.ndarray

    @property
    def email_needed(self) -> np.ndarray:
        """People whose newsletter record can only be tied to them through a store-side email."""
        return self.email_list & ~self.ecommerce


def membership(people: pl.DataFrame, rng: np.random.Generator) -> Membership:
    n = people.height
    ecommerce = rng.random(n) < 0.58
    pos = rng.random(n) < 0.50
    loyalty = people["loyalty_draw"].to_numpy() < np.where(pos, 0.55, 0.12)
    # Newsletter sign-ups come mostly through the web shop.
    email_list = rng.random(n) < np.where(ecommerce, 0.42, 0.2)
    # Nobody is generated without a record somewhere.
    nowhere = ~(ecommerce | pos | loyalty | email_list)
    coin = rng.random(n) < 0.5
    return Membership(ecommerce | (nowhere & coin), loyalty, pos | (nowhere & ~coin), email_list)


def epoch_end(as_of: date) -> int:
    """Midnight UTC at the start of `as_of`, in epoch seconds; UTC so output never depends on the machine's zone."""
    return int(datetime.combine(as_of, time(), tzinfo=UTC).timestamp())


def fmt_ts(epoch: pl.Series, pattern: str = "%Y-%m-%d %H:%M:%S") -> pl.Series:
    return pl.from_epoch(epoch, time_unit="s").dt.strftime(pattern)


def _ids(prefix: str, n: int, width: int = 7) -> pl.Series:
    return prefix + pl.Series(np.arange(1, n + 1)).cast(pl.String).str.zfill(width)


def records(
    people: pl.DataFrame,
    member: np.ndarray,
    rng: np.random.Generator,
    as_of: date,
    *,
    duplicate_rate: float,
    age_skew: float = 1.0,
) -> pl.DataFrame:
    """One row per (person, record) in random file order, with the address current at `updated_at`.

    `age_skew` > 1 makes a source's records older on average (store systems are updated rarely),
    so it more often holds a mover's previous address.
    """
    idx = np.flatnonzero(member)
    dup = idx[rng.random(len(idx)) < duplicate_rate]
    rows = np.concatenate([idx, dup])
    is_dup = np.concatenate([np.zeros(len(idx), bool), np.ones(len(dup), bool)])
    order = rng.permutation(len(rows))
    rows, is_dup = rows[order], is_dup[order]
    rec = people[rows].with_columns(is_duplicate=pl.Series(is_dup))
    updated = epoch_end(as_of) - (rng.random(len(rows)) ** (1 / age_skew) * THREE_YEARS).astype(
        np.int64
    )
    rec = rec.with_columns(updated_at=pl.Series(updated))
    old = (rec["moved"] & (rec["updated_at"] < rec["move_at"])).to_numpy()
    swap = {
        c: noise.where(old, rec[f"old_{c}"], rec[c])
        for c in ("house_number", "street", "suffix_idx", "unit", "city", "state", "postal_code")
    }
    return rec.with_columns(**swap)


def _personal_email(
    rec: pl.DataFrame, rng: np.random.Generator, household_use: float, old_use: float
) -> pl.Series:
    n = rec.height
    email = noise.where(
        rec["household_email"].is_not_null().to_numpy() & (rng.random(n) < household_use),
        rec["household_email"],
        rec["email"],
    )
    return noise.where(rng.random(n) < old_use, rec["old_email"], email).alias("email")


def _contact_gaps(
    rec: pl.DataFrame,
    rng: np.random.Generator,
    *,
    email: float,
    phone: float,
    address: float,
    email_needed: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Which of email / phone / address a record lacks: at most one, as a till asks for "phone or
    email" and a web shop for a phone or a shipping address. Any two records of a person then share
    a contact field, which keeps the demo solvable by a good matcher (and not by a naive one)."""
    u = rng.random(rec.height)
    no_email = u < email
    if email_needed is not None:
        no_email &= ~email_needed[rec["person_id"].to_numpy()]
    no_phone = (u >= email) & (u < email + phone)
    no_address = (u >= email + phone) & (u < email + phone + address)
    return no_email, no_phone, no_address


def _address_block(
    rec: pl.DataFrame,
    rng: np.random.Generator,
    *,
    gone: np.ndarray,
    abbreviate: float,
    upper: float,
    state_full: float,
    zip4: float,
) -> dict[str, pl.Series]:
    line = noise.street_line(
        rec["house_number"],
        rec["street"],
        rec["suffix_idx"],
        rec["unit"],
        rng,
        abbreviate=abbreviate,
        upper=upper,
    )
    block = {
        "line": line,
        "city": noise.letter_case(rec["city"], rng, upper),
        "state": noise.state_variants(rec["state"], rng, state_full),
        "postal": noise.postal_variants(
            rec["postal_code"], rec["country"], rng, zip4=zip4, lost_zero=0.01
        ),
        "country": noise.country_variants(rec["country"], rng, 0.05),
    }
    return {k: noise.where(gone, None, v) for k, v in block.items()}


def _given(rec: pl.DataFrame, rng: np.random.Generator, *, nick: float, typo: float) -> pl.Series:
    return noise.typo(noise.nickname(rec["given_name"], rng, nick), rng, typo)


def ecommerce(
    people: pl.DataFrame, member: np.ndarray, rng: np.random.Generator, as_of: date
) -> pl.DataFrame:
    rec = records(people, member, rng, as_of, duplicate_rate=0.006)
    n = rec.height
    # A second account is opened with another mailbox, or the same one with a +tag.
    email = noise.where(
        rec["is_duplicate"].to_numpy(), rec["old_email"], _personal_email(rec, rng, 0.0, 0.0)
    )
    email = noise.junk(
        noise.email_variants(email, rng, case=0.08, tag=0.06, space=0.01),
        rng,
        0.002,
        noise.JUNK_EMAILS,
    )
    _, no_phone, no_address = _contact_gaps(rec, rng, email=0.0, phone=0.35, address=0.15)
    addr = _address_block(
        rec, rng, gone=no_address, abbreviate=0.5, upper=0.03, state_full=0.04, zip4=0.05
    )
    created = rec["updated_at"] - pl.Series((rng.random(n) * 2 * THREE_YEARS / 3).astype(np.int64))
    gender = rec["gender"].replace_strict({"F": "F", "M": "M", "O": "O"})
    gender = noise.where(
        rng.random(n) < 0.05,
        gender.replace_strict({"F": "female", "M": "male", "O": "other"}),
        gender,
    )
    frame = pl.DataFrame(
        {
            "account_id": _ids("A", n),
            "external_id": _ids("cus_", n, 6),
            "first_name": _given(rec, rng, nick=0.03, typo=0.015),
            "last_name": noise.blank(noise.typo(rec["surname"], rng, 0.012), rng, 0.01),
            "email": email,
            "phone": noise.where(
                no_phone,
                None,
                noise.phone_formats(rec["phone_cc"], rec["phone_nat"], rng, (5, 3, 1, 2, 3, 1, 2)),
            ),
            "address_line1": addr["line"],
            "city": addr["city"],
            "state": addr["state"],
            "postal_code": addr["postal"],
            "country": addr["country"],
            "birthdate": noise.blank(rec["birthdate"].dt.strftime("%Y-%m-%d"), rng, 0.45),
            "gender": noise.blank(gender, rng, 0.3),
            "created_at": fmt_ts(created),
            "updated_at": fmt_ts(rec["updated_at"]),
        }
    )
    return frame.with_columns(
        _person=rec["person_id"],
        _created=created,
        _app_share=rec["app_share"],
        _spend=rec["spend_scale"],
        _dup=rec["is_duplicate"],
    )


def loyalty(
    people: pl.DataFrame, member: Membership, rng: np.random.Generator, as_of: date
) -> pl.DataFrame:
    rec = records(people, member.loyalty, rng, as_of, duplicate_rate=0.01, age_skew=1.3)
    n = rec.height
    no_email, no_phone, no_address = _contact_gaps(
        rec, rng, email=0.1, phone=0.15, address=0.08, email_needed=member.email_needed
    )
    email = noise.where(no_email, None, _personal_email(rec, rng, 0.6, 0.03))
    email = noise.junk(
        noise.email_variants(email, rng, case=0.1, tag=0.02), rng, 0.005, noise.JUNK_EMAILS
    )
    phone = noise.phone_formats(rec["phone_cc"], rec["phone_nat"], rng, (4, 4, 2, 1, 3, 1, 1))
    phone = noise.junk(noise.where(no_phone, None, phone), rng, 0.008, noise.JUNK_PHONES)
    addr = _address_block(
        rec, rng, gone=no_address, abbreviate=0.6, upper=0.1, state_full=0.05, zip4=0.02
    )
    enrolled = rec["updated_at"] - pl.Series((rng.random(n) * THREE_YEARS).astype(np.int64))
    tier = pl.Series(np.asarray(TIERS)[rng.choice(4, n, p=(0.55, 0.28, 0.13, 0.04))])
    return pl.DataFrame(
        {
            "member_id": _ids("M", n),
            # A duplicate member row comes from a system migration and keeps the same card number.
            "loyalty_id": rec["loyalty_number"].cast(pl.String),
            "given_name": noise.letter_case(_given(rec, rng, nick=0.06, typo=0.02), rng, 0.12),
            "surname": noise.letter_case(noise.typo(rec["surname"], rng, 0.015), rng, 0.12),
            "email": email,
            "mobile": phone,
            "birth_date": noise.blank(rec["birthdate"].dt.strftime("%Y-%m-%d"), rng, 0.12),
            "street": addr["line"],
            "city": addr["city"],
            "state": addr["state"],
            "zip": addr["postal"],
            "country": addr["country"],
            "tier": tier,
            "points": pl.Series((rng.pareto(1.5, n) * 400).astype(np.int64)).cast(pl.String),
            "enrolled_at": fmt_ts(enrolled),
            "updated_at": fmt_ts(rec["updated_at"]),
        }
    ).with_columns(_person=rec["person_id"])


def _full_name(rec: pl.DataFrame, rng: np.random.Generator) -> pl.Series:
    n = rec.height
    given = _given(rec, rng, nick=0.08, typo=0.02)
    surname = noise.typo(rec["surname"], rng, 0.015)
    middle = pl.Series(np.asarray(list("ABCDEJKLMRST"))[rng.integers(0, 12, n)])
    u = rng.random(n)
    name = pl.select(
        pl.when(pl.Series(u < 0.10))
        .then(surname + ", " + given)
        .when(pl.Series(u < 0.20))
        .then(given + " " + middle + ". " + surname)
        .otherwise(given + " " + surname)
    ).to_series()
    return noise.junk(noise.letter_case(name, rng, 0.3), rng, 0.004, noise.JUNK_NAMES).alias(
        "full_name"
    )


def pos(
    people: pl.DataFrame, member: Membership, rng: np.random.Generator, as_of: date
) -> pl.DataFrame:
    rec = records(people, member.pos, rng, as_of, duplicate_rate=0.04, age_skew=1.6)
    n = rec.height
    has_card = (
        member.loyalty[rec["person_id"].to_numpy()]
        & ~rec["is_duplicate"].to_numpy()
        & (rng.random(n) < 0.85)
    )
    no_email, no_phone, no_address = _contact_gaps(
        rec, rng, email=0.4, phone=0.15, address=0.3, email_needed=member.email_needed
    )
    email = noise.where(no_email, None, _personal_email(rec, rng, 0.6, 0.03))
    email = noise.junk(
        noise.email_variants(email, rng, case=0.2, tag=0.01, space=0.02),
        rng,
        0.02,
        noise.JUNK_EMAILS,
    )
    phone = noise.phone_formats(rec["phone_cc"], rec["phone_nat"], rng, (3, 5, 2, 1, 4, 1, 1))
    phone = noise.junk(noise.where(no_phone, None, phone), rng, 0.015, noise.JUNK_PHONES)
    addr = _address_block(
        rec, rng, gone=no_address, abbreviate=0.8, upper=0.3, state_full=0.02, zip4=0.0
    )
    return pl.DataFrame(
        {
            "pos_customer_id": _ids("PC", n, 8),
            "loyalty_id": noise.where(
                has_card,
                rec["loyalty_number"].cast(pl.String),
                pl.Series([None] * n, dtype=pl.String),
            ),
            "full_name": _full_name(rec, rng),
            "email": email,
            "phone": phone,
            "street": addr["line"],
            "city": addr["city"],
            "state": addr["state"],
            "postcode": addr["postal"],
            "country": addr["country"],
            "updated_at": fmt_ts(rec["updated_at"]),
        }
    ).with_columns(
        _person=rec["person_id"],
        _spend=rec["spend_scale"],
        _dup=rec["is_duplicate"],
        _state=rec["state"],
    )


def email_list(
    people: pl.DataFrame, member: np.ndarray, rng: np.random.Generator, as_of: date
) -> pl.DataFrame:
    rec = records(people, member, rng, as_of, duplicate_rate=0.02)
    n = rec.height
    # Only the current personal (or household) mailbox: a newsletter record has nothing else to match on.
    email = _personal_email(rec, rng, 0.7, 0.0)
    # A re-subscription arrives as a differently spelled copy of the same address.
    email = noise.email_variants(email, rng, case=0.1, tag=0.08, space=0.01)
    email = noise.where(
        rec["is_duplicate"].to_numpy(), noise.email_variants(email, rng, case=0.5, tag=0.5), email
    )
    subscribed = rec["updated_at"] - pl.Series((rng.random(n) * THREE_YEARS / 2).astype(np.int64))
    return pl.DataFrame(
        {
            "subscriber_id": _ids("S", n, 8),
            "email": noise.junk(email, rng, 0.004, noise.JUNK_EMAILS),
            "first_name": noise.blank(
                noise.letter_case(_given(rec, rng, nick=0.08, typo=0.01), rng, 0.05, 0.1), rng, 0.25
            ),
            "postal_code": noise.blank(
                noise.postal_variants(
                    rec["postal_code"], rec["country"], rng, zip4=0.0, lost_zero=0.01
                ),
                rng,
                0.35,
            ),
            "email_opt_in": pl.Series(np.where(rng.random(n) < 0.9, "true", "false")),
            "signup_source": pl.Series(
                np.asarray(SIGNUP_SOURCES)[rng.integers(0, len(SIGNUP_SOURCES), n)]
            ),
            "subscribed_at": fmt_ts(subscribed),
            "updated_at": fmt_ts(rec["updated_at"]),
        }
    ).with_columns(_person=rec["person_id"])
