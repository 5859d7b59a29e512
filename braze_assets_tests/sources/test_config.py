"""sources.yaml accepts the new locations and refuses what this version cannot read, saying why."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from braze_assets import settings
from braze_assets.config import ConfigError, load_config


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    target = tmp_path / "config"
    shutil.copytree(settings.DEMO_CONFIG_DIR, target)
    return target


def _with(config_dir: Path, index: int, **changes) -> str:
    """Rewrite sources[index] of the demo config with `changes` (None removes a key); the error."""
    path = config_dir / "sources.yaml"
    document = yaml.safe_load(path.read_text())
    entry = document["sources"][index]
    for key, value in changes.items():
        if value is None:
            entry.pop(key, None)
        else:
            entry[key] = value
    path.write_text(yaml.safe_dump(document))
    with pytest.raises(ConfigError) as err:
        load_config(config_dir)
    message = str(err.value)
    assert "sources.yaml" in message and f"sources[{index}]" in message, message
    return message


def test_new_locations_load(config_dir: Path):
    path = config_dir / "sources.yaml"
    document = yaml.safe_load(path.read_text())
    document["sources"][0]["path"] = "s3://brand-exports/ecommerce/**/*.parquet"
    document["sources"][1].pop("path")
    document["sources"][1]["postgres"] = {"connection_env": "LOYALTY_DB", "table": "crm.members"}
    document["sources"][2]["path"] = "exports/pos/*.jsonl"
    document["transactions"][0]["path"] = "s3://brand-exports/orders/2024-*.csv.gz"
    path.write_text(yaml.safe_dump(document))
    config = load_config(config_dir)
    assert config.sources[0].location == "s3://brand-exports/ecommerce/**/*.parquet"
    assert not config.sources[0].incremental
    assert config.sources[1].location == "postgres table crm.members via $LOYALTY_DB"
    assert config.sources[1].incremental


def test_gcs_delta_and_iceberg_locations_are_accepted(config_dir: Path):
    path = config_dir / "sources.yaml"
    document = yaml.safe_load(path.read_text())
    document["sources"][0]["path"] = "gs://brand-exports/ecommerce/**/*.parquet"
    document["sources"][1]["path"] = "s3://lake/loyalty"
    document["sources"][1]["format"] = "delta"
    document["sources"][2]["path"] = "lake/pos/metadata/00003-abc.metadata.json"
    document["sources"][2]["load"] = {"mode": "incremental"}
    document["transactions"][0]["path"] = "s3://lake/orders"
    document["transactions"][0]["format"] = "iceberg"
    path.write_text(yaml.safe_dump(document))
    config = load_config(config_dir)
    # Plain files default to full loads; tables (and files asked to) load incrementally.
    assert not config.sources[0].incremental
    assert config.sources[1].incremental
    assert config.sources[2].incremental


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"path": "gs://*/accounts.csv"}, "a gs:// path needs a bucket name"),
        ({"path": "gcs://brand/accounts.csv"}, "use gs://bucket/path"),
        ({"path": "gs://brand/accounts", "format": "delta"}, "delta tables on gs:// are not"),
        ({"path": "s3://brand/*/accounts", "format": "iceberg"}, "names one table"),
        ({"path": "https://brand.test/accounts.csv"}, "https:// locations are not supported"),
        ({"path": "exports/accounts"}, "set `format` to one of csv, parquet, jsonl"),
        ({"path": "s3://*/accounts.csv"}, "needs a bucket name"),
        ({"path": None}, "set exactly one location"),
        (
            {"postgres": {"connection_env": "CRM", "table": "customers"}},
            "set exactly one location",
        ),
        (
            {"path": None, "postgres": {"connection_env": "CRM", "table": "a.b.c"}},
            "must be `table` or `schema.table`",
        ),
        (
            {
                "path": None,
                "postgres": {"connection_env": "CRM", "table": "t", "query": "SELECT 1"},
            },
            "set exactly one of `table` or `query`",
        ),
    ],
)
def test_refused_locations_say_why(config_dir: Path, changes, expected):
    assert expected in _with(config_dir, 0, **changes)


def test_a_pasted_connection_string_is_not_echoed(config_dir: Path):
    pasted = "postgresql://brand:Secret-pw@db.internal:5432/crm"
    message = _with(
        config_dir, 0, path=None, postgres={"connection_env": pasted, "table": "customers"}
    )
    assert "must be the NAME of an environment variable" in message
    assert "Secret-pw" not in message
