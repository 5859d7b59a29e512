"""Write the demo retailer's input files: deterministic for a seed, sized by a number of people.

The files are exactly those declared in the packaged demo config (`config/demo/sources.yaml`), plus
the ground truth (`demo_truth/person_truth.csv`, for evaluation only), the users that already exist
in the demo Braze workspace (`braze_workspace_users.csv`) and `demo_data/manifest.json`, which
makes a rerun with the same parameters a no-op.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import polars as pl

from braze_assets.demo_data import orders as orders_mod
from braze_assets.demo_data import sources as src
from braze_assets.demo_data.people import generate_people
from braze_assets.demo_data.reference import load_reference

# Bump when the output for a given seed changes, so old data is not mistaken for current.
GENERATOR_VERSION = 1
MANIFEST = Path("demo_data/manifest.json")
TRUTH = Path("demo_truth/person_truth.csv")
WORKSPACE_USERS = Path("braze_workspace_users.csv")
SOURCE_FILES = {
    "ecommerce": Path("sources/ecommerce_accounts.csv"),
    "loyalty": Path("sources/loyalty_members.csv"),
    "pos": Path("sources/pos_customers.csv"),
    "email_list": Path("sources/email_subscribers.csv"),
}
TRANSACTION_FILES = {
    "orders": Path("sources/orders.csv"),
    "store_transactions": Path("sources/store_transactions.csv"),
}
WORKSPACE_SHARE = 0.9
STEPS = ("people", "membership", *SOURCE_FILES, *TRANSACTION_FILES, "truth", "workspace_users")

Progress = Callable[[str, int, int], None]


class DemoDataExistsError(RuntimeError):
    """Demo data made with other parameters is already in the data dir."""


@dataclass(frozen=True)
class DemoDataSummary:
    data_dir: Path
    seed: int
    people: int
    as_of: date
    rows: dict[str, int] = field(default_factory=dict)  # relative path -> data rows
    generated: bool = True  # False when an identical data set was already there

    def __str__(self) -> str:
        verb = "generated" if self.generated else "already present (same parameters), left as is"
        lines = [
            f"demo data for {self.people:,} people (seed {self.seed}, as of {self.as_of}) in {self.data_dir}: {verb}"
        ]
        lines += [f"  {rel}: {rows:,} rows" for rel, rows in self.rows.items()]
        return "\n".join(lines)


def _rng(seed: int, step: str) -> np.random.Generator:
    # One independent stream per step, so changing one step never shifts the others' output.
    return np.random.default_rng([seed, STEPS.index(step)])


def all_files() -> list[Path]:
    return [*SOURCE_FILES.values(), *TRANSACTION_FILES.values(), TRUTH, WORKSPACE_USERS]


def _read_manifest(data_dir: Path) -> dict | None:
    path = data_dir / MANIFEST
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise DemoDataExistsError(
            f"{path} is unreadable ({exc}); pass overwrite=True to regenerate"
        ) from None


def _existing(
    data_dir: Path, seed: int, people: int, as_of: date | None, overwrite: bool
) -> DemoDataSummary | None:
    manifest = _read_manifest(data_dir)
    present = [p for p in all_files() if (data_dir / p).exists()]
    if manifest is not None and not manifest.get("complete", False):
        return None  # our own run was interrupted: its files are ours to replace
    if manifest is None:
        if present and not overwrite:
            raise DemoDataExistsError(
                f"{data_dir} already has {', '.join(map(str, present))} but no {MANIFEST}; "
                "pass overwrite=True to replace them with generated demo data"
            )
        return None
    same = (
        manifest.get("generator_version") == GENERATOR_VERSION
        and manifest.get("seed") == seed
        and manifest.get("people") == people
        and (as_of is None or manifest.get("as_of") == as_of.isoformat())
    )
    if same and not overwrite:
        if len(present) < len(all_files()):
            return None  # someone deleted one of our files: make the set whole again
        return DemoDataSummary(
            data_dir,
            seed,
            people,
            date.fromisoformat(manifest["as_of"]),
            dict(manifest["rows"]),
            generated=False,
        )
    if not overwrite:
        wanted = f"seed={seed}, people={people}" + (f", as_of={as_of.isoformat()}" if as_of else "")
        had = f"seed={manifest.get('seed')}, people={manifest.get('people')}, as_of={manifest.get('as_of')}"
        raise DemoDataExistsError(
            f"{data_dir} holds demo data made with {had} (generator v{manifest.get('generator_version')}); "
            f"asked for {wanted} (v{GENERATOR_VERSION}). Pass overwrite=True to replace it"
        )
    return None


def _recorded_as_of(data_dir: Path, seed: int, people: int) -> date | None:
    manifest = _read_manifest(data_dir)
    if (
        manifest
        and (manifest.get("seed"), manifest.get("people")) == (seed, people)
        and manifest.get("as_of")
    ):
        return date.fromisoformat(manifest["as_of"])
    return None


def _write_manifest(data_dir: Path, manifest: dict) -> None:
    path = data_dir / MANIFEST
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def _write(frame: pl.DataFrame, data_dir: Path, rel: Path, rows: dict[str, int]) -> None:
    path = data_dir / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".csv.tmp")
    frame.select([c for c in frame.columns if not c.startswith("_")]).write_csv(
        tmp, line_terminator="\n"
    )
    tmp.replace(path)
    rows[rel.as_posix()] = frame.height


def generate_demo_data(
    data_dir: Path,
    *,
    people: int = 20_000,
    seed: int = 7,
    as_of: date | None = None,
    overwrite: bool = False,
    progress: Progress | None = None,
) -> DemoDataSummary:
    """Generate the demo inputs under `data_dir`; `as_of` defaults to today (UTC)."""
    if people < 10:
        raise ValueError(f"people must be at least 10, got {people}")
    data_dir = Path(data_dir)
    existing = _existing(data_dir, seed, people, as_of, overwrite)
    if existing is not None:
        return existing
    # A rerun that only repairs missing files keeps the recorded as_of, so the bytes stay the same.
    as_of = as_of or _recorded_as_of(data_dir, seed, people) or datetime.now(UTC).date()
    report = progress or (lambda step, done, total: None)
    total = len(STEPS) - 1  # membership is part of the people step
    rows: dict[str, int] = {}
    params = {
        "generator_version": GENERATOR_VERSION,
        "seed": seed,
        "people": people,
        "as_of": as_of.isoformat(),
    }
    _write_manifest(data_dir, {**params, "complete": False})

    report("people", 0, total)
    persons = generate_people(people, _rng(seed, "people"), as_of, load_reference())
    member = src.membership(persons, _rng(seed, "membership"))
    report("people", 1, total)

    frames = {
        "ecommerce": src.ecommerce(persons, member.ecommerce, _rng(seed, "ecommerce"), as_of),
        "loyalty": src.loyalty(persons, member, _rng(seed, "loyalty"), as_of),
        "pos": src.pos(persons, member, _rng(seed, "pos"), as_of),
        "email_list": src.email_list(persons, member.email_list, _rng(seed, "email_list"), as_of),
    }
    del persons
    for done, (name, frame) in enumerate(frames.items(), start=2):
        _write(frame, data_dir, SOURCE_FILES[name], rows)
        report(name, done, total)

    # Each transaction file is drawn from the accounts of the source it links to.
    transactions = {
        "orders": (orders_mod.orders, "ecommerce"),
        "store_transactions": (orders_mod.store_transactions, "pos"),
    }
    for done, (name, (draw, source)) in enumerate(transactions.items(), start=6):
        _write(
            draw(frames[source], _rng(seed, name), as_of), data_dir, TRANSACTION_FILES[name], rows
        )
        report(name, done, total)

    truth = pl.concat(
        [
            frame.select(
                pl.lit(name).alias("source"),
                pl.col(frame.columns[0]).alias("source_pk"),
                ("person_" + pl.col("_person").cast(pl.String).str.zfill(7)).alias("person_id"),
            )
            for name, frame in frames.items()
        ]
    )
    _write(truth, data_dir, TRUTH, rows)
    report("truth", 8, total)

    accounts = frames["ecommerce"]
    known = _rng(seed, "workspace_users").random(accounts.height) < WORKSPACE_SHARE
    users = (
        accounts.filter(pl.Series(known))
        .select(
            "external_id",
            pl.when(pl.col("email").str.contains("@"))
            .then(pl.col("email").str.strip_chars().str.to_lowercase())
            .alias("email"),
        )
        .sort("external_id")
    )
    _write(users, data_dir, WORKSPACE_USERS, rows)
    report("workspace_users", 9, total)

    summary = DemoDataSummary(data_dir, seed, people, as_of, rows)
    _write_manifest(data_dir, {**params, "complete": True, "rows": rows})
    return summary


__all__ = ["DemoDataExistsError", "DemoDataSummary", "generate_demo_data"]
