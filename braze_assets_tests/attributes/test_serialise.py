"""Every declared type's JSON text: valid JSON, exact values, one spelling per value."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import polars as pl
import pytest

from braze_assets.attributes import (
    AttributeMapping,
    DestinationConfig,
    canonical_json,
    identifier_object,
    is_billable,
)
from braze_assets.attributes.serialise import payload_json


def mapping(type_: str, *, name: str = "attr", nulls: str = "skip") -> AttributeMapping:
    return AttributeMapping(name=name, column="c", type=type_, nulls=nulls)


def texts(type_: str, values: list, dtype=None, **kw) -> list:
    return canonical_json(mapping(type_, **kw), pl.Series(values, dtype=dtype)).to_list()


def test_boolean_is_json_boolean():
    assert texts("boolean", [True, False, None]) == ["true", "false", None]


def test_integer():
    out = texts("integer", [0, -7, 9_007_199_254_740_993, None])
    assert out[:3] == ["0", "-7", "9007199254740993"]
    assert json.loads(out[2]) == 9_007_199_254_740_993
    assert out[3] is None


def test_float_shortest_round_trip_and_one_spelling_for_zero():
    out = texts("float", [19.99, 0.1 + 0.2, 1e20, 1e-7, -0.0, 0.0])
    assert [json.loads(t) for t in out[:4]] == [19.99, 0.1 + 0.2, 1e20, 1e-7]
    assert out[0] == "19.99"
    assert out[4] == out[5]


def test_float_rejects_non_finite():
    with pytest.raises(ValueError, match="NaN"):
        texts("float", [float("nan")])


def test_decimal_at_declared_scale_without_float_noise():
    out = texts(
        "decimal(10,2)",
        [Decimal("19.99"), Decimal("19.9"), Decimal("-0.50")],
        dtype=pl.Decimal(10, 2),
    )
    assert out == ["19.99", "19.90", "-0.50"]
    # A float input is brought to the declared scale, not printed with its binary noise.
    assert texts("decimal(10,2)", [19.990000001, 0.1 + 0.2]) == ["19.99", "0.30"]


def test_large_decimal_is_exact():
    big = Decimal("1234567890123456789012345678.1234567891")
    out = texts("decimal(38,10)", [big, Decimal("-0.0000000001")], dtype=pl.Decimal(38, 10))
    assert out == ["1234567890123456789012345678.1234567891", "-0.0000000001"]
    assert json.loads(out[0], parse_float=Decimal) == big


@pytest.mark.parametrize(
    "value, text",
    [
        (dt.date(1, 1, 1), '"0001-01-01"'),
        (dt.date(9999, 12, 31), '"9999-12-31"'),
        (dt.date(2024, 2, 29), '"2024-02-29"'),
        (dt.date(2000, 2, 29), '"2000-02-29"'),
    ],
)
def test_dates_are_yyyy_mm_dd(value, text):
    assert texts("date", [value]) == [text]
    assert canonical_json(mapping("date", name="dob"), pl.Series([value])).to_list() == [text]


def test_datetimes_are_iso_utc_with_z():
    berlin = dt.timezone(dt.timedelta(hours=2))
    out = texts(
        "datetime",
        [
            dt.datetime(2024, 2, 29, 1, 2, 3, 456789, tzinfo=berlin),
            dt.datetime(1, 1, 1),
            dt.datetime(9999, 12, 31, 23, 59, 59),
        ],
    )
    assert out == [
        '"2024-02-28T23:02:03.456Z"',
        '"0001-01-01T00:00:00.000Z"',
        '"9999-12-31T23:59:59.000Z"',
    ]


def test_strings_escaped_and_unicode_kept():
    values = ['say "hi"\\', "line\nbreak\t", "😀 emoji", "漢字テスト", "\u0001", "é" * 256]
    out = texts("string", values)
    assert [json.loads(t) for t in out] == values
    # Serialisation never cuts: length is checked (and rejected) by validation, not here.
    assert len(json.loads(out[-1])) == 256


def test_varchar_not_cut():
    assert json.loads(texts("varchar(5)", ["abcdefgh"])[0]) == "abcdefgh"


def test_nulls_skip_or_clear():
    for type_, value in [
        ("string", "a"),
        ("integer", 1),
        ("date", dt.date(2020, 1, 1)),
        ("boolean", True),
    ]:
        assert texts(type_, [value, None])[1] is None
        assert texts(type_, [value, None], nulls="clear")[1] == "null"


def test_equal_values_give_equal_text():
    a = texts("decimal(12,2)", [Decimal("5.1"), Decimal("5.10")], dtype=pl.Decimal(12, 2))
    assert a[0] == a[1]


def test_wrong_dtype_is_an_error_not_a_guess():
    with pytest.raises(pl.exceptions.PolarsError):
        texts("integer", ["not a number"])


def destination(identifier: str, **kw) -> DestinationConfig:
    return DestinationConfig(
        name="braze", identifier=identifier, attributes=[mapping("string", name="first_name")], **kw
    )


def test_identifier_objects():
    ext = destination("external_id", identifier_column="external_id")
    assert identifier_object(ext, {"external_id": "abc"}) == {
        "external_id": "abc",
        "_update_existing_only": True,
    }
    bid = destination("braze_id", identifier_column="braze_id", update_existing_only=False)
    assert identifier_object(bid, {"braze_id": "5f0"}) == {"braze_id": "5f0"}
    alias = destination("user_alias", alias_name_column="n", alias_label_column="l")
    assert identifier_object(alias, {"alias_name": "n1", "alias_label": "crm"}) == {
        "user_alias": {"alias_name": "n1", "alias_label": "crm"},
        "_update_existing_only": True,
    }
    with pytest.raises(ValueError, match="no external_id"):
        identifier_object(ext, {"external_id": "  "})


def test_payload_json_is_valid_and_skips_nulls():
    ext = destination("external_id", identifier_column="external_id")
    text = payload_json(
        ext, {"external_id": "e1"}, {"first_name": '"Ann"', "dob": None, "n": "1.50"}
    )
    assert text == '{"external_id":"e1","_update_existing_only":true,"first_name":"Ann","n":1.50}'
    assert json.loads(text)["n"] == 1.5


def test_billable():
    assert not is_billable("email_subscribe")
    assert not is_billable("push_subscribe")
    assert not is_billable("subscription_groups")
    assert not is_billable("push_tokens")
    assert not is_billable("external_id")
    assert is_billable("first_name")
    assert is_billable("loyalty_status")
