"""customer_360 survivorship on one customer seen by two sources."""

from __future__ import annotations

from datetime import datetime

import duckdb
import pytest

from braze_assets.config.model import ProjectConfig
from braze_assets.customer_360.profile import build_customer_360
from braze_assets.identity.cluster import cluster_and_assign_ids
from braze_assets.identity.config import IdentityConfig
from braze_assets.identity.standardise import standardise

pytestmark = pytest.mark.integration

# Both sources carry the person's name, email and address under the same raw column names.
PERSON_COLUMNS = {
    "first": "given_name",
    "last": "surname",
    "mail": "email",
    "street": "address_line1",
    "town": "city",
    "zip": "postal_code",
}


def _source(name: str, priority: int, **columns: str) -> dict:
    return {
        "name": name,
        "path": f"{name}.csv",
        "primary_key": "id",
        "updated_at": "ts",
        "priority": priority,
        "columns": {**PERSON_COLUMNS, **columns},
    }


CONFIG = ProjectConfig.model_validate(
    {
        "sources": [
            _source("shop", 1, ext="external_id"),
            _source("club", 2, card="loyalty_id", tier="attribute", points="attribute"),
        ]
    }
)


def table(con, name: str, columns: list[str], rows: list[tuple]) -> None:
    con.execute(
        f"CREATE TABLE {name} ({', '.join(c + ' VARCHAR' for c in columns)}, _source_file VARCHAR, _row_number BIGINT)"
    )
    con.executemany(
        f"INSERT INTO {name} VALUES ({', '.join('?' for _ in columns)}, 'f.csv', ?)",
        [r + (i + 2,) for i, r in enumerate(rows)],
    )


@pytest.fixture()
def con(tmp_path):
    con = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    table(
        con,
        "raw_shop",
        ["id", "ts", "first", "last", "mail", "street", "town", "zip", "ext"],
        [
            (
                "1",
                "2024-01-01 00:00:00",
                "Robert",
                "Smith",
                "bob@old.com",
                "1 Oak St",
                "Boston",
                "02134",
                "cus_1",
            ),
            (
                "2",
                "2024-02-01 00:00:00",
                "Other",
                "Person",
                "other@x.com",
                None,
                None,
                None,
                "cus_2",
            ),
        ],
    )
    table(
        con,
        "raw_club",
        ["id", "ts", "first", "last", "mail", "street", "town", "zip", "card", "tier", "points"],
        [
            (
                "9",
                "2025-06-01 00:00:00",
                "Bob",
                "Smith",
                "bob@new.com",
                "9 Elm Avenue",
                "Denver",
                "80202",
                "L9",
                "Gold",
                "120",
            ),
        ],
    )
    yield con
    con.close()


def test_priority_recency_and_address_group(con):
    # No score_pairs here, so no model-chosen threshold: the hand-made link is above this one.
    identity = IdentityConfig(match_threshold=0.9)
    standardise(con, CONFIG, identity)
    # The match itself is tested in identity; here one hand-made link says the two are one person.
    con.execute(
        "CREATE TABLE unified_scores AS SELECT 'club:9' AS record_id_l, 'shop:1' AS record_id_r, "
        "1.0 AS match_probability, NULL::DOUBLE AS match_weight"
    )
    cluster_and_assign_ids(con, identity, run_id="r1", now=datetime(2026, 1, 1))
    report = build_customer_360(con, CONFIG, identity)
    assert report.customers == 2
    row = con.execute(
        "SELECT external_id, given_name, surname, email, address_line1, city, postal_code, loyalty_id, loyalty_tier, "
        "source_count, sources, record_count, first_seen_at, updated_at FROM customer_360 WHERE loyalty_id IS NOT NULL"
    ).fetchone()
    (
        external_id,
        given,
        surname,
        email,
        street,
        city,
        postal,
        loyalty,
        tier,
        n_sources,
        sources,
        records,
        first,
        last,
    ) = row
    assert (external_id, given, surname) == (
        "cus_1",
        "Robert",
        "Smith",
    )  # the trusted shop wins names
    assert email == "bob@new.com"  # email follows recency
    # One record's whole address, shown the way people write it (matching compared it upper-cased).
    assert (street, city, postal) == ("1 Oak Street", "Boston", "02134")
    assert (loyalty, tier, n_sources, sources, records) == ("L9", "Gold", 2, ["club", "shop"], 2)
    assert (first, last) == (datetime(2024, 1, 1), datetime(2025, 6, 1))
    # Attribute-tagged source columns are carried, so audiences and attributes can use them.
    assert con.execute("SELECT points FROM customer_360 WHERE loyalty_id = 'L9'").fetchone() == (
        "120",
    )
    assert con.execute(
        "SELECT points FROM customer_360 WHERE external_id = 'cus_2'"
    ).fetchone() == (None,)


def test_recency_first_takes_the_newest_address_whole(con):
    identity = IdentityConfig.model_validate(
        {"survivorship": {"order": "recency_then_priority"}, "match_threshold": 0.9}
    )
    standardise(con, CONFIG, identity)
    con.execute(
        "CREATE TABLE unified_scores AS SELECT 'club:9' AS record_id_l, 'shop:1' AS record_id_r, "
        "1.0 AS match_probability, NULL::DOUBLE AS match_weight"
    )
    cluster_and_assign_ids(con, identity, run_id="r1", now=datetime(2026, 1, 1))
    build_customer_360(con, CONFIG, identity)
    assert con.execute(
        "SELECT given_name, address_line1, city, postal_code FROM customer_360 WHERE loyalty_id = 'L9'"
    ).fetchone() == ("Bob", "9 Elm Avenue", "Denver", "80202")
