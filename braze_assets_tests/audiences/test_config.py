"""Load-time checks: every problem names the segment / campaign / audience it is in."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from pydantic import ValidationError

from braze_assets.audiences import check_audiences
from braze_assets.audiences.cadence import check_cron, cron_schedule
from braze_assets.config import ConfigError

from .conftest import COLUMNS, load


def refused(section, *fragments):
    with pytest.raises(ValidationError) as info:
        load(section)
    message = str(info.value)
    for fragment in fragments:
        assert fragment in message, message
    return message


# The one destination the test sections send to, with no mapped attributes.
BRAZE = SimpleNamespace(name="braze", attributes=[])


def checked(section, *fragments, entry=None):
    """Loads fine, then the cross-section check against the test catalogue refuses it."""
    with pytest.raises(ConfigError) as info:
        check_audiences(
            SimpleNamespace(audiences=load(section), destinations=[BRAZE]), columns=COLUMNS
        )
    for fragment in fragments:
        assert fragment in str(info.value), str(info.value)
    if entry:
        assert info.value.entry == entry
    return str(info.value)


def segment(name, where):
    return {"name": name, "where": where}


def test_unknown_column_names_the_segment_and_suggests():
    checked(
        {
            "segments": [
                segment("ok", {"column": "email", "op": "is null"}),
                segment("vip", {"column": "l12m_revnue", "op": ">", "value": 1}),
            ]
        },
        "segment 'vip'",
        "unknown column 'l12m_revnue'",
        "did you mean 'l12m_revenue'",
        entry="audiences.segments[1]",
    )


def test_column_names_cannot_smuggle_sql():
    checked(
        {
            "segments": [
                segment("evil", {"column": "email; DROP TABLE customer_360", "op": "is null"})
            ]
        },
        "segment 'evil'",
        "unknown column",
    )


@pytest.mark.parametrize(
    ("where", "fragment"),
    [
        ({"column": "l12m_revenue", "op": ">=", "value": "lots"}, "does not fit a number column"),
        ({"column": "l12m_revenue", "op": "contains", "value": "1"}, "type mismatch"),
        ({"column": "email", "op": "within last days", "value": 3}, "type mismatch"),
        (
            {"column": "latest_order_at", "op": "within last days", "value": "30"},
            "whole number of days",
        ),
        ({"column": "one_and_done", "op": ">", "value": True}, "type mismatch"),
        ({"column": "birthdate", "op": "=", "value": "31/12/1980"}, "expected a date"),
        ({"column": "l12m_revenue", "op": "between", "value": [500, 100]}, "runs backwards"),
        ({"column": "l12m_revenue", "op": "between", "value": 5}, "list of two values"),
        ({"column": "loyalty_tier", "op": "in", "value": []}, "non-empty list"),
        (
            {"column": "loyalty_tier", "op": "in", "value": ["gold", 3]},
            "does not fit a text column",
        ),
        ({"column": "email", "op": "is null", "value": "x"}, "takes no value"),
        ({"column": "email", "op": "like", "value": "x"}, "unknown operator 'like'"),
        ({"column": "sources", "op": "=", "value": "loyalty"}, "type mismatch"),
    ],
)
def test_type_mismatches_name_the_segment(where, fragment):
    checked(
        {"segments": [segment("seg_x", {"any": [{"column": "email", "op": "is null"}, where]})]},
        "segment 'seg_x'",
        fragment,
    )


def test_malformed_condition_is_explained():
    refused({"segments": [segment("s", {"columns": "email"})]}, "{all: [...]}")


def test_cycles_between_segments_are_refused_naming_them():
    message = refused(
        {
            "segments": [
                segment("a", {"member_of": "b"}),
                segment("b", {"all": [{"column": "email", "op": "is null"}, {"member_of": "c"}]}),
                segment("c", {"any": [{"member_of": "a"}]}),
            ]
        },
        "member_of cycle",
    )
    assert "a -> b -> c -> a" in message
    refused(
        {"segments": [segment("selfish", {"member_of": "selfish"})]},
        "segment 'selfish'",
        "selfish -> selfish",
    )


def test_unknown_references_are_refused():
    refused(
        {"segments": [segment("a", {"member_of": "ghost"})]},
        "segment 'a'",
        "unknown segment 'ghost'",
    )
    base = {"segments": [segment("a", {"column": "email", "op": "is null"})]}
    refused(
        {
            **base,
            "campaigns": [
                {"name": "c", "segments": ["a"], "exclude": ["ghost"], "destination": "braze"}
            ],
        },
        "campaign 'c'",
        "'ghost'",
    )
    refused(
        {**base, "orchestrations": [{"name": "o", "sql_audience": "a", "destination": "braze"}]},
        "orchestration 'o'",
        "unknown SQL audience 'a'",
    )
    checked(
        {
            **base,
            "campaigns": [
                {"name": "c", "segments": ["a"], "destination": "braze", "attributes": ["revenue"]}
            ],
        },
        "campaign 'c'",
        "attribute 'revenue'",
        entry="audiences.campaigns[0].attributes",
    )


def test_attribute_names_follow_braze_rules():
    base = {"segments": [segment("a", {"column": "email", "op": "is null"})]}
    refused(
        {
            **base,
            "campaigns": [
                {
                    "name": "c",
                    "segments": ["a"],
                    "destination": "braze",
                    "membership": {"attribute": "$in"},
                }
            ],
        },
        "reserved",
    )
    refused(
        {
            **base,
            "campaigns": [
                {
                    "name": "c",
                    "segments": ["a"],
                    "destination": "braze",
                    "attributes": {"email": "email"},
                }
            ],
        },
        "Braze standard field",
    )
    checked(
        {
            **base,
            "campaigns": [
                {
                    "name": "c",
                    "segments": ["a"],
                    "destination": "braze",
                    "attributes": {"srcs": "sources"},
                }
            ],
        },
        "campaign 'c'",
        "campaigns send scalar values",
    )


def test_names_are_unique_and_membership_attributes_do_not_clash():
    refused({"segments": [segment("a", {"column": "email", "op": "is null"})] * 2}, "repeated: a")
    base = {"segments": [segment("a", {"column": "email", "op": "is null"})]}
    camp = {"segments": ["a"], "destination": "braze", "membership": {"attribute": "vip"}}
    checked(
        {**base, "campaigns": [{"name": "c1", **camp}, {"name": "c2", **camp}]},
        "campaign 'c2'",
        "attribute 'vip'",
        "boolean membership of campaign 'c1'",
        entry="audiences.campaigns[1].membership",
    )
    array = {
        "segments": ["a"],
        "destination": "braze",
        "membership": {"mode": "array", "attribute": "lists"},
    }
    check_audiences(
        SimpleNamespace(
            audiences=load(
                {**base, "campaigns": [{"name": "c1", **array}, {"name": "c2", **array}]}
            ),
            destinations=[BRAZE],
        ),
        columns=COLUMNS,
    )
    checked(
        {
            **base,
            "campaigns": [
                {"name": "c1", **array},
                {"name": "c2", **camp, "attributes": {"lists": "city"}},
            ],
        },
        "campaign 'c2'",
        "'lists'",
        "array membership of campaign 'c1'",
        entry="audiences.campaigns[1].attributes",
    )


def test_membership_must_not_reuse_a_mapped_attribute():
    audiences = load(
        {
            "segments": [segment("a", {"column": "email", "op": "is null"})],
            "campaigns": [
                {
                    "name": "c",
                    "segments": ["a"],
                    "destination": "braze",
                    "membership": {"attribute": "value_tier"},
                }
            ],
        }
    )
    destination = SimpleNamespace(name="braze", attributes=[SimpleNamespace(name="value_tier")])
    with pytest.raises(
        ConfigError,
        match="campaign 'c': attribute 'value_tier'.*mapped attribute of destination 'braze'",
    ):
        check_audiences(
            SimpleNamespace(audiences=audiences, destinations=[destination]), columns=COLUMNS
        )


def test_bad_sql_is_refused_at_load_naming_the_audience():
    refused(
        {"sql_audiences": [{"name": "oops", "sql": "DROP TABLE customer_360"}]},
        "audience 'oops'",
        "not DROP",
    )
    refused(
        {"sql_audiences": [{"name": "two", "sql": "SELECT 1; SELECT 2"}]},
        "audience 'two'",
        "exactly one statement",
    )


def test_sql_file_is_read_relative_to_the_config_dir(tmp_path):
    (tmp_path / "audiences").mkdir()
    (tmp_path / "audiences" / "q.sql").write_text("SELECT customer_id FROM customer_360\n")
    config = load(
        {"sql_audiences": [{"name": "q", "sql_file": "audiences/q.sql"}]}, config_dir=tmp_path
    )
    assert config.sql_audience("q").sql.startswith("SELECT customer_id")
    with pytest.raises(ValidationError, match="sql_file .* does not exist"):
        load({"sql_audiences": [{"name": "q", "sql_file": "nope.sql"}]}, config_dir=tmp_path)


@pytest.mark.parametrize(
    "bad", ["61 * * * *", "0 6 * *", "0 6 * * funday", "*/0 * * * *", "0 9-5 * * *", "every day"]
)
def test_bad_cron_is_refused_naming_the_campaign(bad):
    section = {
        "segments": [segment("a", {"column": "email", "op": "is null"})],
        "campaigns": [
            {"name": "weekly_mail", "segments": ["a"], "destination": "braze", "cadence": bad}
        ],
    }
    refused(section, "cadence")
    with pytest.raises(ValueError):
        check_cron(bad)


def test_cadences_map_to_cron():
    assert cron_schedule("once") is None
    assert cron_schedule("weekly") == "0 6 * * 1"
    assert cron_schedule("30 7 * * mon-fri") == "30 7 * * mon-fri"
    check_cron("*/15 0-23/2 1,15 jan-jun 0")


def test_check_audiences_refuses_unknown_destination_with_file_and_entry():
    audiences = load(
        {
            "segments": [segment("a", {"column": "email", "op": "is null"})],
            "campaigns": [{"name": "c", "segments": ["a"], "destination": "brazee"}],
        }
    )
    config = SimpleNamespace(audiences=audiences, destinations=[BRAZE])
    with pytest.raises(ConfigError) as info:
        check_audiences(config, file="audiences.yaml", columns=COLUMNS)
    assert info.value.entry == "audiences.campaigns[0].destination"
    assert (
        "campaign 'c'" in str(info.value)
        and "'brazee'" in str(info.value)
        and "audiences.yaml" in str(info.value)
    )
    check_audiences(
        SimpleNamespace(
            audiences=audiences, destinations=[SimpleNamespace(name="brazee", attributes=[])]
        ),
        columns=COLUMNS,
    )


def _config_dir(tmp_path, monkeypatch, audiences_yaml: str):
    import shutil

    from braze_assets.settings import DEMO_CONFIG_DIR

    shutil.copytree(DEMO_CONFIG_DIR, tmp_path / "config")
    (tmp_path / "config" / "audiences.yaml").write_text(audiences_yaml)
    monkeypatch.setenv("BRAZE_ASSETS_CONFIG_DIR", str(tmp_path / "config"))
    return tmp_path / "config"


def test_load_config_names_file_entry_and_segment(tmp_path, monkeypatch):
    from braze_assets.config import load_config

    config_dir = _config_dir(
        tmp_path,
        monkeypatch,
        """
audiences:
  segments:
    - {name: fine, where: {column: email, op: is not null}}
    - name: vip
      where: {all: [{column: lifetime_order_revenue, op: '>=', value: 'a lot'}]}
""",
    )
    with pytest.raises(ConfigError) as info:
        load_config(config_dir)
    assert (
        info.value.file.endswith("audiences.yaml") and info.value.entry == "audiences.segments[1]"
    )
    assert (
        "segment 'vip'" in info.value.problem
        and "does not fit a number column" in info.value.problem
    )


def test_load_config_reads_sql_files_and_refuses_writes(tmp_path, monkeypatch):
    from braze_assets.config import load_config

    config_dir = _config_dir(
        tmp_path,
        monkeypatch,
        """
audiences:
  sql_audiences:
    - {name: from_file, sql_file: audiences/top_spenders.sql}
    - {name: sneaky, sql: "SELECT customer_id FROM customer_360; DELETE FROM customer_360"}
""",
    )
    with pytest.raises(ConfigError) as info:
        load_config(config_dir)
    assert (
        info.value.entry == "audiences.sql_audiences[1]"
        and "audience 'sneaky'" in info.value.problem
    )
    (config_dir / "audiences.yaml").write_text(
        "audiences:\n  sql_audiences:\n    - {name: from_file, sql_file: audiences/top_spenders.sql}\n"
    )
    assert "percent_rank" in load_config(config_dir).audiences.sql_audience("from_file").sql


@pytest.mark.parametrize("escape", ["../../../etc/passwd", "../outside.sql", "/etc/hostname"])
def test_sql_file_must_stay_inside_the_config_dir(tmp_path, escape):
    config_dir = tmp_path / "config"
    config_dir.mkdir()
    # A readable, valid query just outside: only the location makes it wrong.
    (tmp_path / "outside.sql").write_text("SELECT customer_id FROM customer_360\n")
    with pytest.raises(
        ValidationError,
        match=rf"SQL audience 'sneaky': sql_file '{escape}' is outside the config directory",
    ):
        load({"sql_audiences": [{"name": "sneaky", "sql_file": escape}]}, config_dir=config_dir)
