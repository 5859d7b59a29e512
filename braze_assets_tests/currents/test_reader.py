import io
import json

import fastavro
import pytest

from braze_assets.currents.keys import parse_key
from braze_assets.currents.reader import CorruptFileError, decode_file, polars_can_read
from braze_assets.currents.schemas import (
    event_type_fields,
    sample_files,
    schema_files,
    writer_schema,
)

from .avro_helpers import assert_all_fields_kept, avro_bytes, random_records


def key_for(event_type: str, hour: str = "2026-11-29-17"):
    return parse_key(f"p/c/event_type={event_type}/date={hour}/version=10/production/c+0+0.avro")


def test_reference_covers_all_94_event_types_with_samples():
    assert len(event_type_fields()) == 94
    assert set(sample_files()) == set(event_type_fields())
    assert len(schema_files()) == 15


@pytest.mark.parametrize("event_type", sorted(sample_files()))
def test_every_sample_file_decodes_with_all_fields(event_type):
    data = sample_files()[event_type].read_bytes()
    records = list(fastavro.reader(io.BytesIO(data)))
    frame = decode_file(data, key_for(event_type))
    assert_all_fields_kept(records, frame, event_type)
    # The sample's writer schema is the one Braze lists for the type.
    fields = [f["name"] for f in writer_schema(event_type)["fields"]]
    assert fields == [name for name, _ in event_type_fields()[event_type]]


@pytest.mark.parametrize("codec", ["null", "deflate", "snappy"])
@pytest.mark.parametrize("event_type", sorted(schema_files()))
def test_every_reference_schema_round_trips(event_type, codec):
    schema = json.loads(schema_files()[event_type].read_text())
    records = random_records(schema, 40)
    frame = decode_file(avro_bytes(schema, records, codec), key_for(event_type))
    assert_all_fields_kept(records, frame, event_type)


def _with_time_type(time_type: str) -> dict:
    schema = json.loads(json.dumps(writer_schema("users.behaviors.Purchase")))
    for field in schema["fields"]:
        if field["name"] == "time":
            field["type"] = time_type
    return schema


def test_int_and_long_time_give_the_same_utc_timestamp():
    frames = []
    for time_type in ("int", "long"):
        schema = _with_time_type(time_type)
        records = random_records(schema, 5, seed=3)
        frames.append(decode_file(avro_bytes(schema, records), key_for("users.behaviors.Purchase")))
    assert frames[0]["event_time"].to_list() == frames[1]["event_time"].to_list()
    assert str(frames[0].schema["event_time"]) == "Datetime(time_unit='us', time_zone='UTC')"


def test_long_time_beyond_2038_is_kept():
    schema = _with_time_type("long")
    records = random_records(schema, 1)
    records[0]["time"] = 4_102_444_800  # 2100-01-01
    frame = decode_file(avro_bytes(schema, records), key_for("users.behaviors.Purchase"))
    assert frame["event_time"][0].year == 2100


def test_time_ms_wins_over_time_seconds():
    schema = writer_schema("users.profile.Update")
    records = random_records(schema, 1)
    records[0]["time"], records[0]["time_ms"] = 1_700_000_000, 1_700_000_000_123
    frame = decode_file(avro_bytes(schema, records), key_for("users.profile.Update"))
    assert frame["event_time"][0].timestamp() == 1_700_000_000.123


def test_new_optional_field_from_schema_evolution_appears_in_extra():
    schema = json.loads(json.dumps(writer_schema("users.messages.email.Open")))
    schema["fields"].append(
        {"name": "brand_new_field", "type": ["null", "string"], "default": None}
    )
    records = random_records(schema, 3)
    records[0]["brand_new_field"] = "hello"
    frame = decode_file(avro_bytes(schema, records, "snappy"), key_for("users.messages.email.Open"))
    assert json.loads(frame["extra"][0])["brand_new_field"] == "hello"
    assert_all_fields_kept(records, frame, "users.messages.email.Open")


def test_types_polars_cannot_read_fall_back_to_fastavro():
    schema = {
        "type": "record",
        "name": "Future",
        "fields": [
            {"name": "id", "type": "string"},
            {"name": "time", "type": "int"},
            {"name": "user_id", "type": "string"},
            {"name": "labels", "type": {"type": "map", "values": "string"}},
            {"name": "either", "type": ["null", "string", "long"]},
            {"name": "payload", "type": ["null", "bytes"], "default": None},
        ],
    }
    assert not polars_can_read(schema)
    records = [
        {
            "id": "a",
            "time": 1,
            "user_id": "u1",
            "labels": {"x": "1"},
            "either": 5,
            "payload": b"\x00\x01",
        },
        {"id": "b", "time": 2, "user_id": "u2", "labels": {}, "either": "five", "payload": None},
    ]
    frame = decode_file(avro_bytes(schema, records, "deflate"), key_for("users.future.Thing"))
    assert frame["event_id"].to_list() == ["a", "b"]
    assert frame["user_id"].to_list() == ["u1", "u2"]
    assert [json.loads(e) for e in frame["extra"]] == [
        {"labels": {"x": "1"}, "either": 5, "payload": "AAE="},
        {"labels": {}, "either": "five", "payload": None},
    ]


def test_polars_reads_the_braze_schemas():
    assert all(polars_can_read(writer_schema(t)) for t in sample_files())


@pytest.mark.parametrize("codec", ["null", "deflate", "snappy"])
def test_truncated_file_is_corrupt_and_names_the_key(codec):
    schema = writer_schema("users.messages.email.Send")
    data = avro_bytes(schema, random_records(schema, 500), codec)
    key = key_for("users.messages.email.Send")
    with pytest.raises(CorruptFileError) as raised:
        decode_file(data[: len(data) // 2], key)
    assert raised.value.key == key.key and key.key in str(raised.value)


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b"", "not an Avro object container file"),
        (b"PK\x03\x04 this is a zip", "not an Avro object container file"),
    ],
)
def test_garbage_is_corrupt(data, problem):
    with pytest.raises(CorruptFileError, match=problem):
        decode_file(data, key_for("users.messages.email.Send"))


def test_schema_without_id_is_rejected():
    schema = {"type": "record", "name": "X", "fields": [{"name": "time", "type": "int"}]}
    with pytest.raises(CorruptFileError, match="field 'id' is missing"):
        decode_file(avro_bytes(schema, [{"time": 1}]), key_for("users.x.Y"))


def test_invalid_utf8_in_the_middle_is_corrupt():
    schema = writer_schema("users.messages.email.Send")
    data = bytearray(avro_bytes(schema, random_records(schema, 200)))
    middle = len(data) // 2
    data[middle : middle + 40] = b"\xff" * 40
    with pytest.raises(CorruptFileError):
        decode_file(bytes(data), key_for("users.messages.email.Send"))
