"""Regenerate febrl_sample.csv: a FEBRL-style (Freely Extensible Biomedical Record Linkage) dedupe
file of invented Australian people, originals `rec-N-org` and corrupted duplicates `rec-N-dup-K`.

    .venv/bin/python braze_assets_tests/identity/data/make_febrl_sample.py
"""

import csv
import random
from pathlib import Path

GIVEN = ["joshua", "emily", "lachlan", "chloe", "thomas", "olivia", "jack", "mia", "william", "isabella", "samuel",
         "grace", "benjamin", "ruby", "liam", "charlotte", "noah", "sophie", "ethan", "jessica", "daniel", "hannah",
         "matthew", "georgia", "james", "lily", "ryan", "zoe", "dylan", "amelia", "riley", "madison", "harrison", "ella"]
SURNAMES = ["white", "campbell", "kelly", "ryan", "murphy", "walsh", "byrne", "reid", "clarke", "mason", "hughes",
            "ward", "burke", "lynch", "dunn", "mcdonald", "stewart", "fraser", "hamilton", "graham", "bishop", "webb",
            "matthews", "davey", "hall", "parsons", "pearce", "bennett", "turner", "coleman"]
STREETS = ["macquarie street", "glebe point road", "hopetoun avenue", "bunda street", "ainslie avenue",
           "northbourne avenue", "wattle crescent", "banksia drive", "kurrajong street", "jacaranda place"]
TOWNS = [("dickson", "2602", "act"), ("newtown", "2042", "nsw"), ("fitzroy", "3065", "vic"), ("toowong", "4066", "qld"),
         ("glenelg", "5045", "sa"), ("subiaco", "6008", "wa"), ("sandy bay", "7005", "tas"), ("parap", "0820", "nt")]


def corrupt(value: str, rng: random.Random) -> str:
    if len(value) < 4 or rng.random() < 0.5:
        return value
    i = rng.randrange(1, len(value) - 1)
    return rng.choice([value[:i] + value[i + 1:], value[:i] + value[i + 1] + value[i] + value[i + 2:],
                       value[:i] + rng.choice("aeiou") + value[i + 1:]])


def main() -> None:
    rng = random.Random(2024)
    rows = []
    for n in range(120):
        town, postcode, state = rng.choice(TOWNS)
        original = {
            "rec_id": f"rec-{n}-org", "given_name": rng.choice(GIVEN), "surname": rng.choice(SURNAMES),
            "street_number": str(rng.randrange(1, 200)), "address_1": rng.choice(STREETS),
            "address_2": rng.choice(["", "", "", f"unit {rng.randrange(1, 30)}"]), "suburb": town, "postcode": postcode,
            "state": state, "date_of_birth": f"{rng.randrange(1930, 2000)}{rng.randrange(1, 13):02d}{rng.randrange(1, 29):02d}",
            "soc_sec_id": str(rng.randrange(1_000_000, 9_999_999)),
            "last_updated": f"2023-{rng.randrange(1, 13):02d}-{rng.randrange(1, 28):02d}",
        }
        rows.append(original)
        for k in range(rng.choice([0, 0, 1, 1, 2])):
            dup = dict(original, rec_id=f"rec-{n}-dup-{k}")
            for field in rng.sample(["given_name", "surname", "address_1", "suburb", "soc_sec_id", "date_of_birth"], 2):
                dup[field] = corrupt(dup[field], rng) if field != "date_of_birth" or rng.random() < 0.5 else ""
            if rng.random() < 0.2:
                dup["street_number"] = ""
            rows.append(dup)
    rng.shuffle(rows)
    path = Path(__file__).with_name("febrl_sample.csv")
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


if __name__ == "__main__":
    main()
