"""The noise a real retailer's data has is present in the generated sources, at plausible rates."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import phonenumbers
import polars as pl
from nicknames import NickNamer

from braze_assets.demo_data.noise import JUNK_EMAILS, JUNK_PHONES
from braze_assets.demo_data.orders import JUNK_REVENUE, orders

from .conftest import read

NORMAL_EMAIL = pl.col("email").str.strip_chars().str.to_lowercase().str.replace(r"\+[^@]*@", "@")


def test_email_spelling_variants_and_junk(records: pl.DataFrame) -> None:
    emails = records["email"].drop_nulls()
    tagged = emails.str.contains(r"\+[^@]+@").mean()
    shouted = (emails.str.contains("@") & (emails != emails.str.to_lowercase())).mean()
    padded = (emails != emails.str.strip_chars()).mean()
    assert 0.01 < tagged < 0.1 and 0.03 < shouted < 0.25 and 0 < padded < 0.03
    junk = emails.is_in(list(JUNK_EMAILS)).mean()
    assert 0.001 < junk < 0.02


def test_phone_formats_vary_but_parse_to_valid_numbers(records: pl.DataFrame) -> None:
    phones = records["phone"].drop_nulls()
    shapes = set(phones.str.replace_all(r"\d", "9"))
    assert {
        "(999) 999-9999",
        "999.999.9999",
        "+9 999 999 9999",
        "999-999-9999",
        "9999999999",
    } <= shapes
    real = [p for p in phones.to_list() if p not in JUNK_PHONES]
    valid = [phonenumbers.is_valid_number(phonenumbers.parse(p, "US")) for p in real]
    assert sum(valid) / len(valid) > 0.99
    countries = {phonenumbers.region_code_for_number(phonenumbers.parse(p, "US")) for p in real}
    assert {"US", "GB", "DE"} <= countries
    assert phones.is_in(list(JUNK_PHONES)).sum() > 0


def test_missing_values_and_abbreviations(records: pl.DataFrame) -> None:
    assert 0.05 < records["email"].is_null().mean() < 0.3
    assert 0.1 < records["line"].is_null().mean() < 0.6
    lines = records["line"].drop_nulls()
    for pattern in (r" Street\b", r" St\b", r" St\.", r" ST\b", r" Avenue\b", r" Ave\b"):
        assert lines.str.contains(pattern).sum() > 0, pattern
    states = records["state"].drop_nulls()
    assert states.is_in(["California", "Texas", "New York", "Florida", "Ohio"]).sum() > 0
    assert states.str.len_chars().eq(2).mean() > 0.9
    postal = records["postal_code"].drop_nulls()
    assert postal.str.contains(r"^\d{5}-\d{4}$").sum() > 0


def test_nicknames_and_typos_in_first_names(demo_dir: Path) -> None:
    truth = read(demo_dir, "demo_truth/person_truth.csv")
    names = (
        pl.concat(
            [
                read(demo_dir, "sources/ecommerce_accounts.csv").select(
                    pl.col("account_id").alias("source_pk"), pl.col("first_name").alias("given")
                ),
                read(demo_dir, "sources/loyalty_members.csv").select(
                    pl.col("member_id").alias("source_pk"), pl.col("given_name").alias("given")
                ),
            ]
        )
        .join(truth, on="source_pk")
        .drop_nulls("given")
        .with_columns(pl.col("given").str.to_lowercase())
    )
    variants = (
        names.group_by("person_id")
        .agg(pl.col("given").unique())
        .filter(pl.col("given").list.len() > 1)
    )
    namer = NickNamer()
    nick = typo = 0
    for pair in variants["given"].to_list():
        a, b = pair[:2]
        if b in namer.nicknames_of(a) or a in namer.nicknames_of(b):
            nick += 1
        elif a[0] == b[0] and abs(len(a) - len(b)) <= 1:
            typo += 1
    assert nick > 5 and typo > 5


def test_movers_households_twins_and_duplicates(records: pl.DataFrame) -> None:
    per_person = records.group_by("person_id").agg(
        pl.col("postal_code").str.slice(0, 5).drop_nulls().n_unique().alias("zips"),
        pl.col("line")
        .str.to_lowercase()
        .str.extract(r"^(\d+)")
        .drop_nulls()
        .n_unique()
        .alias("houses"),
        pl.col("source").len().alias("records"),
        pl.col("source").n_unique().alias("sources"),
    )
    assert (per_person["houses"] > 1).sum() > 10  # moved: old address in one source, new in another
    assert (per_person["sources"] > 1).mean() > 0.4  # people appear in several sources
    assert (
        per_person["records"] > per_person["sources"]
    ).sum() > 10  # duplicates within one source
    shared = (
        records.filter(pl.col("email").str.contains("@"))
        .with_columns(e=NORMAL_EMAIL)
        .group_by("e")
        .agg(pl.col("person_id").n_unique().alias("people"))
        .filter(pl.col("people") > 1)
    )
    assert shared.filter(~pl.col("e").is_in(list(JUNK_EMAILS))).height > 10  # household emails
    named = (
        records.filter(pl.col("source") == "ecommerce")
        .drop_nulls(["given", "surname", "city"])
        .with_columns(
            pl.col("given").str.to_lowercase(),
            pl.col("surname").str.to_lowercase(),
            pl.col("city").str.to_lowercase(),
        )
    )
    twins = named.group_by("given", "surname", "city").agg(
        pl.col("person_id").n_unique().alias("people")
    )
    assert (twins["people"] > 1).sum() > 0  # the same name, the same town, two people


def test_transaction_junk_is_present_at_scale() -> None:
    accounts = pl.DataFrame(
        {
            "account_id": [f"A{i:07d}" for i in range(20_000)],
            "_created": [0] * 20_000,
            "_dup": [False] * 20_000,
            "_spend": [1.0] * 20_000,
            "_app_share": [0.3] * 20_000,
        }
    )
    frame = orders(accounts, np.random.default_rng(1), date(2026, 6, 1))
    assert frame["revenue"].is_in(list(JUNK_REVENUE)).sum() > 0
    assert (
        frame["ordered_at"].str.to_datetime("%Y-%m-%dT%H:%M:%SZ", strict=False).is_null().sum() > 0
    )
    assert (~frame["account_id"].is_in(accounts["account_id"].implode())).sum() > 0
