from datetime import UTC, date, datetime

import pytest

from braze_assets.currents.keys import parse_key

CONNECTOR = "dataexport.prod-03.S3.integration.5f3c9e1a2b4d6e8f0a1b2c3d"
FILE = f"{CONNECTOR}+0+15000.avro"


@pytest.mark.parametrize("prefix", ["", "braze/", "a/b/c/currents/"])
def test_v2_layout_with_and_without_prefix(prefix):
    key = f"{prefix}{CONNECTOR}/event_type=users.messages.email.Open/date=2026-11-29-17/version=10/production/{FILE}"
    parsed = parse_key(key)
    assert parsed is not None
    assert parsed.key == key
    assert parsed.event_type == "users.messages.email.Open"
    assert parsed.hour == datetime(2026, 11, 29, 17, tzinfo=UTC)
    assert parsed.date == date(2026, 11, 29)
    assert parsed.partition_key == "2026-11-29"
    assert parsed.integration == "5f3c9e1a2b4d6e8f0a1b2c3d"
    assert (parsed.version, parsed.environment_or_zone, parsed.layout) == ("10", "production", "v2")
    assert parsed.hour_prefix == key.rsplit("version=10", 1)[0]


@pytest.mark.parametrize("prefix", ["", "braze/"])
def test_legacy_layout(prefix):
    key = f"{prefix}{CONNECTOR}/event_type=users.behaviors.CustomEvent/date=2026-01-02-03/327/us-east-1/{FILE}"
    parsed = parse_key(key)
    assert parsed is not None
    assert parsed.event_type == "users.behaviors.CustomEvent"
    assert parsed.hour == datetime(2026, 1, 2, 3, tzinfo=UTC)
    assert (parsed.version, parsed.environment_or_zone, parsed.layout) == (
        "327",
        "us-east-1",
        "legacy",
    )


def test_unknown_extra_parts_and_missing_connector_folder_still_parse():
    key = "p/event_type=users.behaviors.Purchase/date=2026-11-29-00/version=11/staging/shard-7/extra/file.avro"
    parsed = parse_key(key)
    assert parsed is not None
    assert parsed.event_type == "users.behaviors.Purchase"
    assert parsed.integration is None
    assert (parsed.version, parsed.environment_or_zone, parsed.layout) == ("11", "staging", "v2")


def test_integration_from_file_name_when_no_connector_folder():
    parsed = parse_key(f"event_type=users.behaviors.Purchase/date=2026-11-29-00/{FILE}")
    assert parsed is not None and parsed.integration == "5f3c9e1a2b4d6e8f0a1b2c3d"
    assert parsed.version is None and parsed.layout == "legacy"


def test_date_without_hour_is_midnight():
    parsed = parse_key(
        "x/event_type=users.behaviors.Purchase/date=2026-11-29/version=10/production/f.avro"
    )
    assert parsed is not None and parsed.hour == datetime(2026, 11, 29, tzinfo=UTC)


def test_prefix_containing_marker_text_does_not_shadow_braze_components():
    key = "date=2020-01-01-00/event_type=users.behaviors.Purchase/date=2026-11-29-05/version=10/p/f.avro"
    parsed = parse_key(key)
    assert parsed is not None and parsed.hour.hour == 5 and parsed.date == date(2026, 11, 29)


@pytest.mark.parametrize(
    "key",
    [
        f"{CONNECTOR}/event_type=users.messages.email.Open/date=2026-11-29-17/version=10/production/{FILE}.tmp",
        f"{CONNECTOR}/event_type=users.messages.email.Open/date=2026-11-29-17/",
        f"{CONNECTOR}/date=2026-11-29-17/version=10/production/{FILE}",
        f"{CONNECTOR}/event_type=users.messages.email.Open/version=10/production/{FILE}",
        f"{CONNECTOR}/event_type=users.messages.email.Open/date=2026-13-29-17/version=10/production/{FILE}",
        f"{CONNECTOR}/event_type=users.messages.email.Open/date=yesterday/version=10/production/{FILE}",
        f"{CONNECTOR}/event_type=/date=2026-11-29-17/version=10/production/{FILE}",
        f"{CONNECTOR}/date=2026-11-29-17/event_type=users.messages.email.Open/version=10/production/{FILE}",
        "README.avro",
    ],
)
def test_not_currents_files(key):
    assert parse_key(key) is None


def test_hour_prefix_uses_brazes_date_component():
    key = "a/date=old/event_type=users.behaviors.Purchase/date=2026-11-29-05/version=10/p/f.avro"
    assert (
        parse_key(key).hour_prefix
        == "a/date=old/event_type=users.behaviors.Purchase/date=2026-11-29-05/"
    )
