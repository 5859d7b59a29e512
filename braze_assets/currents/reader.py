"""Decode one Currents Avro file into the common `currents_events` columns.

Each file is read with the writer schema stored in it, so fields Braze adds later simply appear in
`extra`. polars' columnar Avro reader does the work; fastavro is the fallback for anything polars
cannot read, and the judge of whether a file is really corrupt.
"""

from __future__ import annotations

import io

import fastavro
import polars as pl

from braze_assets.currents.keys import CurrentsKey

# Braze field -> column. Every other field goes, unchanged, into `extra` (JSON).
_ID_FIELDS = {
    "user_id": "user_id",
    "external_user_id": "external_user_id",
    "campaign_id": "campaign_id",
    "canvas_id": "canvas_id",
    "message_variation_id": "message_variation_id",
    "canvas_step_id": "canvas_step_id",
    "dispatch_id": "dispatch_id",
    "send_id": "send_id",
    "email_address": "email_address",
    "app_id": "app_id",
    "platform": "platform",
}
JSON_FIELDS = ("properties", "custom_attributes")
_TIME_FIELDS = ("time", "time_ms")

COMMON_COLUMNS = [
    "event_id",
    "event_type",
    "event_time",
    "event_date",
    *_ID_FIELDS.values(),
    *JSON_FIELDS,
    "extra",
    "source_key",
]

# DuckDB types of COMMON_COLUMNS; the JSON columns arrive as text and are cast on insert.
COLUMN_TYPES = {
    "event_id": "VARCHAR NOT NULL",
    "event_type": "VARCHAR NOT NULL",
    "event_time": "TIMESTAMPTZ NOT NULL",
    "event_date": "DATE NOT NULL",
    **{column: "VARCHAR" for column in _ID_FIELDS.values()},
    **{column: "JSON" for column in JSON_FIELDS},
    "extra": "JSON NOT NULL",
    "source_key": "VARCHAR NOT NULL",
}


class CorruptFileError(Exception):
    def __init__(self, key: str, problem: str):
        super().__init__(f"{key}: {problem}")
        self.key = key
        self.problem = problem


def read_avro_frame(data: bytes, key: str) -> pl.DataFrame:
    """All fields of all records, with the file's own writer schema."""
    try:
        return pl.read_avro(io.BytesIO(data))
    except BaseException as polars_error:  # polars may raise a PanicException (a BaseException)
        if isinstance(polars_error, (KeyboardInterrupt, SystemExit)):
            raise
    try:
        reader = fastavro.reader(io.BytesIO(data))
        records = list(reader)
    except Exception as error:
        raise CorruptFileError(key, f"not a readable Avro file ({type(error).__name__}: {error})") from None
    return pl.from_dicts(records, infer_schema_length=None) if records else _empty_frame(reader.writer_schema)


def decode_file(data: bytes, key: CurrentsKey) -> pl.DataFrame:
    """The file's events as COMMON_COLUMNS (plus nothing else: every other field is in `extra`)."""
    frame = read_avro_frame(data, key.key)
    for required in ("id", "time"):
        if required not in frame.columns:
            raise CorruptFileError(key.key, f"field '{required}' is missing from the writer schema")
    if frame.height and frame.get_column("id").null_count():
        raise CorruptFileError(key.key, f"{frame.get_column('id').null_count()} record(s) have a null 'id'")
    return normalise(frame, key)


def normalise(frame: pl.DataFrame, key: CurrentsKey) -> pl.DataFrame:
    seconds = pl.from_epoch(pl.col("time").cast(pl.Int64), time_unit="s")
    event_time = (
        pl.coalesce(pl.from_epoch(pl.col("time_ms").cast(pl.Int64), time_unit="ms"), seconds)
        if "time_ms" in frame.columns
        else seconds
    ).dt.replace_time_zone("UTC")
    consumed = {"id", *_TIME_FIELDS, *_ID_FIELDS, *JSON_FIELDS}
    others = [column for column in frame.columns if column not in consumed]
    extra = pl.struct(others).struct.json_encode() if others else pl.lit("{}")
    return frame.select(
        pl.col("id").cast(pl.String).alias("event_id"),
        pl.lit(key.event_type, pl.String).alias("event_type"),
        event_time.alias("event_time"),
        event_time.dt.date().alias("event_date"),
        *[_text(frame, field).alias(column) for field, column in _ID_FIELDS.items()],
        *[_text(frame, field).alias(field) for field in JSON_FIELDS],
        extra.alias("extra"),
        pl.lit(key.key, pl.String).alias("source_key"),
    )


def _text(frame: pl.DataFrame, field: str) -> pl.Expr:
    return pl.col(field).cast(pl.String) if field in frame.columns else pl.lit(None, pl.String)


def _empty_frame(schema: dict) -> pl.DataFrame:
    return pl.DataFrame({field["name"]: [] for field in schema.get("fields", [])})
