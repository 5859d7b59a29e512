"""Decode one Currents Avro file into the common `currents_events` columns.

Each file is read with the writer schema stored in it, so fields Braze adds later simply appear in
`extra`. polars' columnar Avro reader does the work; fastavro is the fallback for anything polars
cannot read, and the judge of whether a file is really corrupt.
"""

from __future__ import annotations

import base64
import io

import fastavro
import orjson
import polars as pl

from braze_assets.currents.keys import CurrentsKey

# Braze fields lifted into typed columns of the same name; every other field goes, unchanged,
# into `extra` (JSON).
ID_FIELDS = (
    "user_id",
    "external_user_id",
    "campaign_id",
    "canvas_id",
    "message_variation_id",
    "canvas_step_id",
    "dispatch_id",
    "send_id",
    "email_address",
    "app_id",
    "platform",
)
JSON_FIELDS = ("properties", "custom_attributes")
_TIME_FIELDS = ("time", "time_ms")
_CONSUMED = {"id", *_TIME_FIELDS, *ID_FIELDS, *JSON_FIELDS}
_EXTRA_JSON = "__extra_json__"  # `extra`, already encoded, on the fastavro path

COMMON_COLUMNS = [
    "event_id",
    "event_type",
    "event_time",
    "event_date",
    *ID_FIELDS,
    *JSON_FIELDS,
    "extra",
    "source_key",
]

# DuckDB types of COMMON_COLUMNS. `extra` and JSON_FIELDS hold JSON text in VARCHAR columns:
# DuckDB's JSON functions and operators (->, ->>, json_extract) read VARCHAR as JSON, and a JSON
# column would parse every value again on insert (`extra` is valid JSON by construction; JSON_FIELDS
# are made valid on insert, see ingest).
COLUMN_TYPES = {
    "event_id": "VARCHAR NOT NULL",
    "event_type": "VARCHAR NOT NULL",
    "event_time": "TIMESTAMPTZ NOT NULL",
    "event_date": "DATE NOT NULL",
    **{column: "VARCHAR NULL" for column in ID_FIELDS},
    **{column: "VARCHAR NULL" for column in JSON_FIELDS},
    "extra": "VARCHAR NOT NULL",
    "source_key": "VARCHAR NOT NULL",
}


class CorruptFileError(Exception):
    def __init__(self, key: str, problem: str):
        super().__init__(f"{key}: {problem}")
        self.key = key
        self.problem = problem


def decode_file(data: bytes, key: CurrentsKey) -> pl.DataFrame:
    """The file's events as COMMON_COLUMNS; every field not in a common column is kept in `extra`."""
    try:
        header = fastavro.reader(io.BytesIO(data))
    except Exception as error:
        raise CorruptFileError(
            key.key, f"not an Avro object container file ({type(error).__name__}: {error})"
        ) from None
    schema = header.writer_schema
    names = (
        {field["name"] for field in schema.get("fields", [])} if isinstance(schema, dict) else set()
    )
    for required in ("id", "time"):
        if required not in names:
            raise CorruptFileError(key.key, f"field '{required}' is missing from the writer schema")
    frame = _polars_frame(data) if polars_can_read(schema) else None
    if frame is None:
        frame = _fastavro_frame(data, key.key, [f["name"] for f in schema["fields"]])
    for required in ("id", "time"):
        nulls = frame.get_column(required).null_count()
        if nulls:
            raise CorruptFileError(key.key, f"{nulls} record(s) have a null '{required}'")
    return normalise(frame, key)


def polars_can_read(avro_type) -> bool:
    """Whether polars' Avro reader handles this type (it has no maps and no multi-type unions)."""
    if isinstance(avro_type, str):
        return True  # a primitive, or a named type already checked where it was defined
    if isinstance(avro_type, list):
        members = [t for t in avro_type if t != "null"]
        return len(members) <= 1 and all(polars_can_read(t) for t in members)
    kind = avro_type.get("type")
    if kind == "record":
        return all(polars_can_read(f["type"]) for f in avro_type.get("fields", []))
    if kind == "array":
        return polars_can_read(avro_type["items"])
    if kind == "map":
        return False
    return kind in ("enum", "fixed") or polars_can_read(kind)


def _polars_frame(data: bytes) -> pl.DataFrame | None:
    try:
        return pl.read_avro(io.BytesIO(data))
    except (Exception, pl.exceptions.PanicException):
        return None  # fastavro decides whether the file is corrupt or polars just cannot read it


def _fastavro_frame(data: bytes, key: str, fields: list[str]) -> pl.DataFrame:
    """Slow path: fastavro records, the fields outside the common columns encoded as `extra` here."""
    try:
        records = list(fastavro.reader(io.BytesIO(data)))
    except Exception as error:
        raise CorruptFileError(
            key, f"unreadable Avro data ({type(error).__name__}: {error})"
        ) from None
    kept = [f for f in fields if f in _CONSUMED]
    others = [f for f in fields if f not in _CONSUMED]
    columns: dict[str, pl.Series] = {}
    for name in kept:
        values = [r.get(name) for r in records]
        if name in _TIME_FIELDS:
            columns[name] = pl.Series(name, values, dtype=pl.Int64)
        else:
            columns[name] = pl.Series(
                name, [None if v is None else str(v) for v in values], dtype=pl.String
            )
    encoded = [
        orjson.dumps({f: r.get(f) for f in others}, default=_json_default).decode() for r in records
    ]
    columns[_EXTRA_JSON] = pl.Series(_EXTRA_JSON, encoded, dtype=pl.String)
    return pl.DataFrame(columns)


def _json_default(value):
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    return str(value)


def normalise(frame: pl.DataFrame, key: CurrentsKey) -> pl.DataFrame:
    seconds = pl.from_epoch(pl.col("time").cast(pl.Int64), time_unit="s")
    event_time = (
        pl.coalesce(pl.from_epoch(pl.col("time_ms").cast(pl.Int64), time_unit="ms"), seconds)
        if "time_ms" in frame.columns
        else seconds
    ).dt.replace_time_zone("UTC")
    others = [column for column in frame.columns if column not in _CONSUMED]
    if _EXTRA_JSON in frame.columns:
        extra = pl.col(_EXTRA_JSON)
    else:
        extra = pl.struct(others).struct.json_encode() if others else pl.lit("{}")
    return frame.select(
        pl.col("id").cast(pl.String).alias("event_id"),
        pl.lit(key.event_type, pl.String).alias("event_type"),
        event_time.alias("event_time"),
        event_time.dt.date().alias("event_date"),
        *[_text(frame, field).alias(field) for field in (*ID_FIELDS, *JSON_FIELDS)],
        extra.alias("extra"),
        pl.lit(key.key, pl.String).alias("source_key"),
    )


def _text(frame: pl.DataFrame, field: str) -> pl.Expr:
    return pl.col(field).cast(pl.String) if field in frame.columns else pl.lit(None, pl.String)
