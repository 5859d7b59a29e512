"""Config-load rules: each mistake fails with a message naming the entry and suggesting the fix."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from pydantic import ValidationError

from braze_assets import settings
from braze_assets.attributes import DestinationConfig, check_destinations
from braze_assets.attributes.types import parse_type
from braze_assets.config import ConfigError
from braze_assets.config.sources import SourceConfig


def destination(*attributes: dict, **kw) -> dict:
    return {
        "name": "braze",
        "identifier": "external_id",
        "identifier_column": "external_id",
        "attributes": list(attributes),
        **kw,
    }


def lint(attribute: dict) -> str:
    with pytest.raises(ValidationError) as caught:
        DestinationConfig.model_validate(destination(attribute))
    return str(caught.value)


@pytest.mark.parametrize(
    "name, suggested",
    [
        ("birthday", "dob"),
        ("birthdate", "dob"),
        ("date_of_birth", "dob"),
        ("DateOfBirth", "dob"),
        ("firstname", "first_name"),
        ("first", "first_name"),
        ("FirstName", "first_name"),
        ("surname", "last_name"),
        ("lastname", "last_name"),
        ("mobile", "phone"),
        ("phone_number", "phone"),
        ("city", "home_city"),
        ("HomeCity", "home_city"),
        ("email_address", "email"),
        ("sex", "gender"),
        ("timezone", "time_zone"),
        ("email_opt_in", "email_subscribe"),
    ],
)
def test_custom_name_duplicating_standard_field_suggests_it(name, suggested):
    type_ = "date" if suggested == "dob" else "string"
    message = lint({"name": name, "column": "given_name", "type": type_})
    assert (
        f"would create a custom attribute and leave Braze's standard field '{suggested}' untouched"
        in message
    )
    assert f"name it '{suggested}'" in message
    assert "attributes.0" in message


@pytest.mark.parametrize("name", ["First_Name", "DOB", "Email", "HOME_CITY"])
def test_standard_fields_must_be_lowercase(name):
    type_ = "date" if name == "DOB" else "string"
    message = lint({"name": name, "column": "given_name", "type": type_})
    assert f"use '{name.lower()}', not '{name}'" in message


def test_name_rules():
    assert "at most 255" in lint({"name": "a" * 256, "column": "email", "type": "string"})
    DestinationConfig.model_validate(
        destination({"name": "ü" * 255, "column": "email", "type": "string"})
    )
    assert "reserved by Braze" in lint({"name": "$price", "column": "email", "type": "string"})
    assert "must not contain '.'" in lint(
        {"name": "order.total", "column": "email", "type": "string"}
    )
    assert "declare it as the destination's identifier" in lint(
        {"name": "external_id", "column": "email", "type": "string"}
    )
    assert "column of braze_customer_attributes" in lint(
        {"name": "customer_id", "column": "email", "type": "string"}
    )
    assert "not a scalar attribute" in lint(
        {"name": "push_tokens", "column": "email", "type": "string"}
    )


@pytest.mark.parametrize(
    "attribute, expected",
    [
        ({"name": "dob", "column": "birthdate", "type": "string"}, "declare type date"),
        (
            {"name": "gender", "column": "gender", "type": "boolean"},
            "declare type string or varchar",
        ),
        (
            {"name": "email_open_tracking_disabled", "column": "email", "type": "string"},
            "declare type boolean",
        ),
        (
            {
                "name": "email_subscribe",
                "column": "lifetime_order_revenue",
                "type": "string",
                "transform": {"bucket": {"thresholds": [1], "labels": ["no", "yes"]}},
            },
            "labels must be among opted_in, subscribed, unsubscribed",
        ),
        (
            {
                "name": "gender",
                "column": "gender",
                "type": "string",
                "transform": {"bucket": {"thresholds": [1], "labels": ["male", "F"]}},
            },
            "labels must be among M, F",
        ),
        (
            {
                "name": "email_subscribe",
                "sql": "CASE WHEN email_opt_in = 'yes' THEN 'opted-in' ELSE 'unsubscribed' END",
                "type": "string",
            },
            "sql returns 'opted-in'; Braze accepts opted_in, subscribed, unsubscribed",
        ),
        (
            {
                "name": "tier",
                "column": "email",
                "type": "string",
                "transform": {"round": {"digits": 1}},
            },
            "round applies to integer, float or decimal",
        ),
        (
            {
                "name": "vip",
                "column": "email",
                "type": "boolean",
                "transform": {"bucket": {"thresholds": [1], "labels": ["no", "yes"]}},
            },
            "do not fit type boolean",
        ),
        (
            {
                "name": "tier",
                "column": "email",
                "type": "string",
                "transform": {"bucket": {"thresholds": [5, 1], "labels": ["a", "b", "c"]}},
            },
            "strictly ascending",
        ),
        (
            {
                "name": "tier",
                "column": "email",
                "type": "string",
                "transform": {"bucket": {"thresholds": [5], "labels": ["a"]}},
            },
            "needs 2 labels",
        ),
        (
            {"name": "tier", "column": "email", "sql": "email", "type": "string"},
            "exactly one of column or sql",
        ),
        ({"name": "tier", "type": "string"}, "exactly one of column or sql"),
        ({"name": "tier", "column": "email", "type": "text"}, "unknown type 'text'"),
        ({"name": "tier", "column": "email", "type": "varchar(256)"}, "1..255 characters"),
        ({"name": "tier", "column": "email", "type": "decimal(39,2)"}, "precision must be 1..38"),
        ({"name": "tier", "sql": "lower(email", "type": "string"}, "does not parse"),
        (
            {"name": "tier", "sql": "(SELECT max(email) FROM customer_360)", "type": "string"},
            "not a query",
        ),
        (
            {"name": "tier", "sql": "email; DROP TABLE customer_360", "type": "string"},
            "single expression",
        ),
        ({"name": "tier", "sql": "upper(c.email)", "type": "string"}, "plain column names"),
    ],
)
def test_type_and_transform_rules(attribute, expected):
    assert expected in lint(attribute)


def test_duplicate_names_in_a_destination():
    with pytest.raises(ValidationError, match="listed twice"):
        DestinationConfig.model_validate(
            destination(
                {"name": "tier", "column": "email", "type": "string"},
                {"name": "tier", "column": "city", "type": "string"},
            )
        )
    with pytest.raises(ValidationError, match="only by case"):
        DestinationConfig.model_validate(
            destination(
                {"name": "tier", "column": "email", "type": "string"},
                {"name": "Tier", "column": "city", "type": "string"},
            )
        )


def test_identifier_rules():
    attr = {"name": "first_name", "column": "given_name", "type": "string"}
    with pytest.raises(ValidationError, match="needs identifier_column"):
        DestinationConfig.model_validate(
            {"name": "b", "identifier": "external_id", "attributes": [attr]}
        )
    with pytest.raises(ValidationError, match="alias_name_column and alias_label_column"):
        DestinationConfig.model_validate(
            {
                "name": "b",
                "identifier": "user_alias",
                "alias_name_column": "email",
                "attributes": [attr],
            }
        )
    with pytest.raises(ValidationError, match="unknown key|Extra inputs"):
        DestinationConfig.model_validate({**destination(attr), "api_key": "x"})
    assert DestinationConfig.model_validate(destination(attr)).update_existing_only is True


def test_type_parsing_is_canonical():
    assert str(parse_type("DECIMAL( 12 , 2 )")) == "decimal(12,2)"
    assert str(parse_type("varchar(40)")) == "varchar(40)"
    with pytest.raises(ValueError, match="takes no arguments"):
        parse_type("integer(3)")


def project(*attributes: dict, sources=()) -> SimpleNamespace:
    return SimpleNamespace(
        destinations=[DestinationConfig.model_validate(destination(*attributes))],
        sources=list(sources),
    )


def check(*attributes: dict, sources=()) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        check_destinations(project(*attributes, sources=sources), file="destinations.yaml")
    return caught.value


def test_unknown_column_names_file_entry_and_close_match():
    error = check({"name": "first_name", "column": "given_nam", "type": "string"})
    assert error.file == "destinations.yaml" and error.entry == "destinations[0].attributes[0]"
    assert (
        "unknown column 'given_nam'" in error.problem and "did you mean given_name" in error.problem
    )


def test_unknown_column_inside_sql():
    error = check(
        {"name": "x", "column": "email", "type": "string"},
        {"name": "tier", "sql": "upper(loyalty_tierr)", "type": "string"},
    )
    assert error.entry == "destinations[0].attributes[1]" and "loyalty_tierr" in error.problem


@pytest.mark.parametrize(
    "attribute, expected",
    [
        (
            {"name": "vip", "column": "lifetime_order_revenue", "type": "boolean"},
            "cannot become boolean",
        ),
        ({"name": "n", "column": "lifetime_order_revenue", "type": "integer"}, "transform: {round"),
        ({"name": "d", "column": "one_and_done", "type": "date"}, "cannot become date"),
        ({"name": "s", "column": "sources", "type": "string"}, "list or struct"),
        (
            {
                "name": "t",
                "column": "birthdate",
                "type": "string",
                "transform": {"bucket": {"thresholds": [1], "labels": ["a", "b"]}},
            },
            "bucket needs a number",
        ),
        (
            {"name": "x", "sql": "birthdate + 1 > DATE '2000-01-01'", "type": "date"},
            "cannot become date",
        ),
    ],
)
def test_type_mismatch_against_the_catalogue(attribute, expected):
    assert expected in check(attribute).problem


def test_identifier_column_checked():
    config = SimpleNamespace(
        destinations=[
            DestinationConfig.model_validate(
                {
                    **destination({"name": "first_name", "column": "given_name", "type": "string"}),
                    "identifier_column": "extid",
                }
            )
        ],
        sources=[],
    )
    with pytest.raises(ConfigError, match="unknown column 'extid'"):
        check_destinations(config)


def test_duplicate_destination_names():
    one = DestinationConfig.model_validate(
        destination({"name": "first_name", "column": "given_name", "type": "string"})
    )
    with pytest.raises(ConfigError, match="used more than once"):
        check_destinations(SimpleNamespace(destinations=[one, one], sources=[]))


def test_carried_source_attribute_columns_are_known():
    from braze_assets_tests.lifecycle.helpers import email_list

    source = email_list("email_opt_in")
    attr = {"name": "opted", "column": "email_opt_in", "type": "boolean"}
    check_destinations(project(attr, sources=[source]))
    assert "email_opt_in" in check(attr).problem


def test_demo_config_passes_every_check():
    demo = Path(settings.DEMO_CONFIG_DIR)
    destinations = [
        DestinationConfig.model_validate(d)
        for d in yaml.safe_load((demo / "destinations.yaml").read_text())["destinations"]
    ]
    sources = [
        SourceConfig.model_validate(s)
        for s in yaml.safe_load((demo / "sources.yaml").read_text())["sources"]
    ]
    check_destinations(SimpleNamespace(destinations=destinations, sources=sources))
    names = [a.name for a in destinations[0].attributes]
    for expected in (
        "first_name",
        "last_name",
        "email",
        "phone",
        "home_city",
        "country",
        "dob",
        "gender",
        "l12m_frequency",
        "l12m_monetary",
        "loyalty_status",
        "value_tier",
        "email_subscribe",
    ):
        assert expected in names
    assert destinations[0].identifier == "external_id" and destinations[0].update_existing_only


def demo_copy(tmp_path: Path) -> Path:
    import shutil

    target = tmp_path / "config"
    shutil.copytree(settings.DEMO_CONFIG_DIR, target)
    return target


def test_load_config_reports_file_and_entry(tmp_path):
    from braze_assets.config import load_config

    config_dir = demo_copy(tmp_path)
    path = config_dir / "destinations.yaml"
    path.write_text(
        path.read_text().replace(
            "{name: dob, column: birthdate", "{name: birthday, column: birthdate"
        )
    )
    with pytest.raises(ConfigError) as caught:
        load_config(config_dir)
    assert caught.value.file == str(path) and caught.value.entry == "destinations[0].attributes[6]"
    assert "name it 'dob'" in caught.value.problem


def test_load_config_runs_catalogue_checks(tmp_path):
    from braze_assets.config import load_config

    config_dir = demo_copy(tmp_path)
    path = config_dir / "destinations.yaml"
    path.write_text(path.read_text().replace("column: given_name", "column: givenname"))
    with pytest.raises(ConfigError) as caught:
        load_config(config_dir)
    assert caught.value.file == str(path) and caught.value.entry == "destinations[0].attributes[0]"
    assert (
        "unknown column 'givenname'" in caught.value.problem
        and "given_name" in caught.value.problem
    )
