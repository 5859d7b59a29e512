"""Reference data the generator draws from: census names, US ZIP codes, street names, a few abroad."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import polars as pl

DATA_DIR = Path(__file__).resolve().parent / "data"

STREET_NAMES = (
    "Main",
    "Oak",
    "Pine",
    "Maple",
    "Cedar",
    "Elm",
    "Washington",
    "Lake",
    "Hill",
    "Park",
    "Walnut",
    "Sunset",
    "Lincoln",
    "Jackson",
    "Church",
    "Highland",
    "Forest",
    "River",
    "Spring",
    "Ridge",
    "Willow",
    "Meadow",
    "Jefferson",
    "Franklin",
    "Madison",
    "Adams",
    "Chestnut",
    "Center",
    "Mill",
    "Union",
    "Lakeview",
    "Dogwood",
    "Magnolia",
    "Hickory",
    "Birch",
    "Valley",
    "Prospect",
    "Broad",
    "Market",
    "Front",
    "Water",
    "Railroad",
    "Poplar",
    "Sycamore",
    "Laurel",
    "Cherry",
    "Spruce",
    "Summit",
    "Grove",
    "Woodland",
    "Hillcrest",
    "Cypress",
    "Aspen",
    "Harbor",
    "Orchard",
    "Kingston",
    "Fairview",
    "Bayview",
    "Windsor",
    "Cambridge",
    "Greenwood",
    "Riverside",
    "Mountain View",
    "Heritage",
    "Liberty",
    "Pleasant",
    "Chapel",
    "School",
    "College",
    "Academy",
    "Bridge",
    "Canal",
    "Industrial",
    "Airport",
    "Country Club",
    "Meadowbrook",
    "Stonebridge",
    "Brookside",
    "Foxhall",
    "Old Mill",
    "Quail Run",
    "Deer Creek",
    "Eagle",
    "Hawthorne",
    "Juniper",
    "Redwood",
    "Sequoia",
    "Alder",
    "Mulberry",
    "Beech",
    "Holly",
    "Ivy",
    "Clover",
    "Primrose",
    "Rosewood",
    "Briarwood",
    "1st",
    "2nd",
    "3rd",
    "4th",
    "5th",
    "6th",
    "7th",
    "8th",
    "9th",
    "10th",
    "12th",
    "14th",
    "21st",
)
# (full form, usual abbreviation); the first is what the person "really" lives on.
STREET_SUFFIXES = (
    ("Street", "St"),
    ("Avenue", "Ave"),
    ("Road", "Rd"),
    ("Drive", "Dr"),
    ("Lane", "Ln"),
    ("Court", "Ct"),
    ("Boulevard", "Blvd"),
    ("Place", "Pl"),
    ("Way", "Way"),
    ("Circle", "Cir"),
    ("Terrace", "Ter"),
    ("Parkway", "Pkwy"),
)
SUFFIX_WEIGHTS = (0.30, 0.18, 0.14, 0.12, 0.08, 0.06, 0.04, 0.03, 0.02, 0.01, 0.01, 0.01)

STATE_NAMES = {
    "AL": "Alabama",
    "AK": "Alaska",
    "AZ": "Arizona",
    "AR": "Arkansas",
    "CA": "California",
    "CO": "Colorado",
    "CT": "Connecticut",
    "DE": "Delaware",
    "DC": "District of Columbia",
    "FL": "Florida",
    "GA": "Georgia",
    "HI": "Hawaii",
    "ID": "Idaho",
    "IL": "Illinois",
    "IN": "Indiana",
    "IA": "Iowa",
    "KS": "Kansas",
    "KY": "Kentucky",
    "LA": "Louisiana",
    "ME": "Maine",
    "MD": "Maryland",
    "MA": "Massachusetts",
    "MI": "Michigan",
    "MN": "Minnesota",
    "MS": "Mississippi",
    "MO": "Missouri",
    "MT": "Montana",
    "NE": "Nebraska",
    "NV": "Nevada",
    "NH": "New Hampshire",
    "NJ": "New Jersey",
    "NM": "New Mexico",
    "NY": "New York",
    "NC": "North Carolina",
    "ND": "North Dakota",
    "OH": "Ohio",
    "OK": "Oklahoma",
    "OR": "Oregon",
    "PA": "Pennsylvania",
    "RI": "Rhode Island",
    "SC": "South Carolina",
    "SD": "South Dakota",
    "TN": "Tennessee",
    "TX": "Texas",
    "UT": "Utah",
    "VT": "Vermont",
    "VA": "Virginia",
    "WA": "Washington",
    "WV": "West Virginia",
    "WI": "Wisconsin",
    "WY": "Wyoming",
}

# Customers abroad: (country, city, state/province, postal code, phone prefix incl. country code).
# Phone prefixes are real area/city codes so the numbers parse as valid for their country.
ABROAD = (
    ("CA", "Toronto", "ON", "M5V 2T6", "+1 416"),
    ("CA", "Vancouver", "BC", "V6B 1A1", "+1 604"),
    ("CA", "Montreal", "QC", "H2X 1Y4", "+1 514"),
    ("CA", "Calgary", "AB", "T2P 1J9", "+1 403"),
    ("GB", "London", "", "SW1A 1AA", "+44 20 7"),
    ("GB", "Manchester", "", "M1 1AE", "+44 161 4"),
    ("GB", "Leeds", "", "LS1 4DY", "+44 113 4"),
    ("DE", "Berlin", "", "10115", "+49 30 2"),
    ("DE", "Hamburg", "", "20095", "+49 40 3"),
    ("DE", "Munich", "", "80331", "+49 89 2"),
)

EMAIL_DOMAINS = (
    ("gmail.com", 0.42),
    ("yahoo.com", 0.14),
    ("hotmail.com", 0.08),
    ("outlook.com", 0.07),
    ("icloud.com", 0.08),
    ("aol.com", 0.05),
    ("comcast.net", 0.04),
    ("msn.com", 0.02),
    ("att.net", 0.02),
    ("verizon.net", 0.02),
    ("live.com", 0.02),
    ("me.com", 0.02),
    ("proton.me", 0.02),
)


@dataclass(frozen=True)
class Reference:
    male_names: np.ndarray
    male_p: np.ndarray
    female_names: np.ndarray
    female_p: np.ndarray
    surnames: np.ndarray
    surname_p: np.ndarray
    zips: np.ndarray
    zip_city: np.ndarray
    zip_state: np.ndarray
    zip_area: np.ndarray


def _probabilities(weights: pl.Series) -> np.ndarray:
    w = weights.to_numpy().astype(np.float64)
    return w / w.sum()


@lru_cache(maxsize=1)
def load_reference() -> Reference:
    given = pl.read_csv(DATA_DIR / "given_names.csv", schema_overrides={"weight": pl.Float64})
    male, female = given.filter(pl.col("sex") == "M"), given.filter(pl.col("sex") == "F")
    surnames = pl.read_csv(DATA_DIR / "surnames.csv", schema_overrides={"weight": pl.Float64})
    zips = pl.read_csv(DATA_DIR / "us_zipcodes.csv", infer_schema=False)
    return Reference(
        male_names=male["name"].to_numpy(),
        male_p=_probabilities(male["weight"]),
        female_names=female["name"].to_numpy(),
        female_p=_probabilities(female["weight"]),
        surnames=surnames["name"].to_numpy(),
        surname_p=_probabilities(surnames["weight"]),
        zips=zips["zip"].to_numpy(),
        zip_city=zips["city"].to_numpy(),
        zip_state=zips["state"].to_numpy(),
        zip_area=zips["area_code"].to_numpy(),
    )
