"""The demo's four customer sources read as one frame under common column names, for the tests and
benchmarks that judge them together (noise rates, a match baseline)."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from braze_assets.demo_data.generator import SOURCE_FILES

# Common name -> the column of each source that holds it (None: the source has no such column).
COMMON_COLUMNS: dict[str, dict[str, str | None]] = {
    "ecommerce": {
        "source_pk": "account_id",
        "given": "first_name",
        "surname": "last_name",
        "email": "email",
        "phone": "phone",
        "line": "address_line1",
        "city": "city",
        "state": "state",
        "postal_code": "postal_code",
        "dob": "birthdate",
        "loyalty": None,
    },
    "loyalty": {
        "source_pk": "member_id",
        "given": "given_name",
        "surname": "surname",
        "email": "email",
        "phone": "mobile",
        "line": "street",
        "city": "city",
        "state": "state",
        "postal_code": "zip",
        "dob": "birth_date",
        "loyalty": "loyalty_id",
    },
    # The POS keeps one full_name; it stands as `given` here, and readers split it as they need.
    "pos": {
        "source_pk": "pos_customer_id",
        "given": "full_name",
        "surname": None,
        "email": "email",
        "phone": "phone",
        "line": "street",
        "city": "city",
        "state": "state",
        "postal_code": "postcode",
        "dob": None,
        "loyalty": "loyalty_id",
    },
    "email_list": {
        "source_pk": "subscriber_id",
        "given": "first_name",
        "surname": None,
        "email": "email",
        "phone": None,
        "line": None,
        "city": None,
        "state": None,
        "postal_code": "postal_code",
        "dob": None,
        "loyalty": None,
    },
}


def read_records(data_dir: Path, fields: list[str]) -> pl.DataFrame:
    """Every customer record as text: `source`, then `fields` (common names) in that order."""
    frames = []
    for source, columns in COMMON_COLUMNS.items():
        frame = pl.read_csv(Path(data_dir) / SOURCE_FILES[source], infer_schema=False)
        frames.append(
            frame.select(
                pl.lit(source).alias("source"),
                *(
                    pl.col(columns[f]).alias(f) if columns[f] else pl.lit(None, pl.String).alias(f)
                    for f in fields
                ),
            )
        )
    return pl.concat(frames)
