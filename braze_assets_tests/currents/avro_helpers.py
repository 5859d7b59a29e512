"""Records for any Braze writer schema, and the check that a decoded frame kept all of them."""

from __future__ import annotations

import io
import json
import math
import random

import fastavro
import polars as pl

from braze_assets.currents.reader import COMMON_COLUMNS, ID_FIELDS, JSON_FIELDS

ID_COLUMNS = list(ID_FIELDS)


def random_value(rng: random.Random, avro_type, name: str):
    if isinstance(avro_type, list):
        members = [t for t in avro_type if t != "null"]
        if "null" in avro_type and rng.random() < 0.3:
            return None
        return random_value(rng, members[0], name)
    if isinstance(avro_type, dict):
        if avro_type["type"] == "array":
            return [random_value(rng, avro_type["items"], name) for _ in range(rng.randrange(3))]
        return random_value(rng, avro_type["type"], name)
    if name == "time":
        return rng.randrange(1_600_000_000, 2_000_000_000)
    if name == "time_ms":
        return rng.randrange(1_600_000_000_000, 2_000_000_000_000)
    if name in JSON_FIELDS:
        return json.dumps({"k": rng.randrange(100), "nested": {"s": "é"}})
    return {
        "string": lambda: f"{name}-{rng.getrandbits(40):x}",
        "int": lambda: rng.randrange(-(2**31), 2**31),
        "long": lambda: rng.randrange(-(2**62), 2**62),
        "float": lambda: rng.randrange(-1000, 1000) / 4,
        "double": lambda: rng.randrange(-(10**6), 10**6) / 8,
        "boolean": lambda: rng.random() < 0.5,
    }[avro_type]()


def random_records(schema: dict, count: int, seed: int = 1) -> list[dict]:
    rng = random.Random(seed)
    records = []
    for index in range(count):
        record = {f["name"]: random_value(rng, f["type"], f["name"]) for f in schema["fields"]}
        record["id"] = f"event-{seed}-{index}"
        records.append(record)
    return records


def avro_bytes(schema: dict, records: list[dict], codec: str = "null") -> bytes:
    body = io.BytesIO()
    fastavro.writer(body, fastavro.parse_schema(schema), records, codec=codec)
    return body.getvalue()


def assert_all_fields_kept(records: list[dict], frame: pl.DataFrame, event_type: str) -> None:
    """Every field of every record is in a typed column or in `extra`, with its value."""
    assert frame.columns == COMMON_COLUMNS
    assert frame.height == len(records)
    for record, row in zip(records, frame.iter_rows(named=True), strict=True):
        assert row["event_id"] == record["id"]
        assert row["event_type"] == event_type
        seconds = (
            record.get("time_ms") / 1000 if record.get("time_ms") is not None else record["time"]
        )
        assert row["event_time"].timestamp() == seconds
        assert row["event_date"] == row["event_time"].date()
        extra = json.loads(row["extra"])
        for name, value in record.items():
            if name in ("id", "time", "time_ms"):
                continue
            if name in ID_COLUMNS or name in JSON_FIELDS:
                assert row[name] == (None if value is None else str(value)), name
                assert name not in extra
            else:
                assert name in extra, f"{event_type}.{name} was dropped"
                if isinstance(value, float):  # Avro float is 32-bit: compare at its precision
                    assert math.isclose(extra[name], value, rel_tol=1e-6), name
                else:
                    assert extra[name] == value, name
        assert set(extra) == set(record) - {"id", "time", "time_ms", *ID_COLUMNS, *JSON_FIELDS}
