"""One small generated demo per test module run, shared read-only by the tests."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import polars as pl
import pytest

from braze_assets.demo_data import generate_demo_data
from braze_assets.demo_data.records import read_records

AS_OF = date(2026, 6, 1)
PEOPLE = 3_000
# The steps the generator reports, in order, once each is done.
REPORTED_STEPS = [
    "people",
    "ecommerce",
    "loyalty",
    "pos",
    "email_list",
    "orders",
    "store_transactions",
    "truth",
    "workspace_users",
]


@pytest.fixture(scope="package")
def demo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data_dir = tmp_path_factory.mktemp("demo")
    generate_demo_data(data_dir, people=PEOPLE, seed=11, as_of=AS_OF)
    return data_dir


def read(data_dir: Path, rel: str) -> pl.DataFrame:
    return pl.read_csv(data_dir / rel, infer_schema=False)


@pytest.fixture(scope="package")
def records(demo_dir: Path) -> pl.DataFrame:
    """Every customer record with its true person and the fields the noise tests look at."""
    truth = read(demo_dir, "demo_truth/person_truth.csv")
    frames = read_records(
        demo_dir,
        ["source_pk", "given", "surname", "email", "phone", "line", "city", "state", "postal_code"],
    )
    return frames.join(truth, on=["source", "source_pk"], how="left", validate="1:1")
