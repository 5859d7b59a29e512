"""One small generated demo per test module run, shared read-only by the tests."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import polars as pl
import pytest

from braze_assets.demo_data import generate_demo_data

AS_OF = date(2026, 6, 1)
PEOPLE = 3_000


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
    frames = [
        read(demo_dir, "sources/ecommerce_accounts.csv").select(
            pl.lit("ecommerce").alias("source"),
            pl.col("account_id").alias("source_pk"),
            pl.col("first_name").alias("given"),
            pl.col("last_name").alias("surname"),
            "email",
            "phone",
            pl.col("address_line1").alias("line"),
            "city",
            "state",
            "postal_code",
        ),
        read(demo_dir, "sources/loyalty_members.csv").select(
            pl.lit("loyalty").alias("source"),
            pl.col("member_id").alias("source_pk"),
            pl.col("given_name").alias("given"),
            "surname",
            "email",
            pl.col("mobile").alias("phone"),
            pl.col("street").alias("line"),
            "city",
            "state",
            pl.col("zip").alias("postal_code"),
        ),
        read(demo_dir, "sources/pos_customers.csv").select(
            pl.lit("pos").alias("source"),
            pl.col("pos_customer_id").alias("source_pk"),
            pl.col("full_name").alias("given"),
            pl.lit(None, pl.String).alias("surname"),
            "email",
            "phone",
            pl.col("street").alias("line"),
            "city",
            "state",
            pl.col("postcode").alias("postal_code"),
        ),
        read(demo_dir, "sources/email_subscribers.csv").select(
            pl.lit("email_list").alias("source"),
            pl.col("subscriber_id").alias("source_pk"),
            pl.col("first_name").alias("given"),
            pl.lit(None, pl.String).alias("surname"),
            "email",
            pl.lit(None, pl.String).alias("phone"),
            pl.lit(None, pl.String).alias("line"),
            pl.lit(None, pl.String).alias("city"),
            pl.lit(None, pl.String).alias("state"),
            "postal_code",
        ),
    ]
    return pl.concat(frames).join(truth, on=["source", "source_pk"], how="left", validate="1:1")
