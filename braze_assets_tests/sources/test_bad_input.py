"""Bad input stops with a message naming the source and the problem, with no secret in it."""

from __future__ import annotations

import socket

import dagster as dg
import duckdb
import pytest
from dagster_duckdb import DuckDBResource

from braze_assets.config.model import ProjectConfig
from braze_assets.defs.sources.assets import build_source_assets
from braze_assets.sources.incremental import load_source
from braze_assets.sources.load import SourceError

pytestmark = pytest.mark.integration


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _closed_s3(monkeypatch, secret: str) -> None:
    """S3 settings pointing at a port nothing listens on, with `secret` as the secret key."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{_closed_port()}")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)


def _entry(**location):
    return ProjectConfig.model_validate(
        {
            "sources": [
                {
                    "name": "crm",
                    "primary_key": "id",
                    "updated_at": "updated_at",
                    "columns": {"email": "email"},
                    **location,
                }
            ]
        }
    )


def _pg(table: str = "customers"):
    return _entry(postgres={"connection_env": "CRM_DATABASE_URL", "table": table})


def _fails(config: ProjectConfig, tmp_path) -> str:
    with duckdb.connect(str(tmp_path / "w.duckdb")) as con, pytest.raises(SourceError) as caught:
        load_source(con, config.sources[0], tmp_path)
    message = str(caught.value)
    assert message.startswith("source 'crm'"), message
    return message


def _failed_run(config: ProjectConfig, tmp_path) -> tuple[str, str]:
    """The source materialised through Dagster, failing: the step failure's message, and the
    run's whole log as the instance keeps it."""
    instance = dg.DagsterInstance.ephemeral()
    result = dg.materialize(
        build_source_assets(config),
        resources={"duckdb": DuckDBResource(database=str(tmp_path / "w.duckdb"))},
        instance=instance,
        raise_on_error=False,
    )
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    logs = "\n".join(
        str(record.user_message) + str(record.dagster_event)
        for record in instance.all_logs(result.run_id)
    )
    return failure.step_failure_data.error.cause.message, logs


@pytest.fixture
def crm_table(pg):
    conn, schema = pg
    conn.execute(
        f"CREATE TABLE {schema}.customers (id text PRIMARY KEY, email text, updated_at timestamptz)"
    )
    conn.execute(f"INSERT INTO {schema}.customers VALUES ('1', 'a@mail.test', now())")
    return f"{schema}.customers"


def test_wrong_password_names_the_problem_not_the_password(
    tmp_path, postgres_server, crm_table, monkeypatch
):
    wrong = "wrong-Secret-123"
    monkeypatch.setenv("CRM_DATABASE_URL", postgres_server.url(password=wrong))
    message = _fails(_pg(crm_table), tmp_path)
    assert "password authentication failed" in message
    assert "$CRM_DATABASE_URL" in message
    assert wrong not in message and postgres_server.password not in message


def test_unreachable_postgres(tmp_path, postgres_server, monkeypatch):
    url = postgres_server.url().replace(str(postgres_server.port), str(_closed_port()))
    monkeypatch.setenv("CRM_DATABASE_URL", url)
    message = _fails(_pg(), tmp_path)
    assert "cannot connect" in message and "refused" in message.lower()
    assert postgres_server.password not in message


def test_missing_table(tmp_path, postgres_server, pg, monkeypatch):
    _, schema = pg
    monkeypatch.setenv("CRM_DATABASE_URL", postgres_server.url())
    message = _fails(_pg(f"{schema}.nope"), tmp_path)
    assert f'relation "{schema}.nope" does not exist' in message
    assert f"postgres table {schema}.nope" in message
    assert postgres_server.password not in message


def test_missing_column(tmp_path, postgres_server, crm_table, monkeypatch):
    monkeypatch.setenv("CRM_DATABASE_URL", postgres_server.url())
    config = _entry(
        postgres={"connection_env": "CRM_DATABASE_URL", "table": crm_table},
    ).model_dump(exclude_none=True)
    config["sources"][0]["columns"]["phone"] = "phone"
    message = _fails(ProjectConfig.model_validate(config), tmp_path)
    assert "column(s) phone declared in the config are missing" in message


def test_unset_variable_and_malformed_connection(tmp_path, monkeypatch):
    monkeypatch.delenv("CRM_DATABASE_URL", raising=False)
    assert "environment variable CRM_DATABASE_URL is not set" in _fails(_pg(), tmp_path)
    secret = "hunter2-Secret"
    monkeypatch.setenv("CRM_DATABASE_URL", f"host=127.0.0.1 password={secret} bogus_option=1")
    message = _fails(_pg(), tmp_path)
    assert "bogus_option" in message and secret not in message


def test_unreachable_s3(tmp_path, monkeypatch):
    _closed_s3(monkeypatch, "s3-Secret-value")
    message = _fails(_entry(path="s3://brand-exports/crm/*.parquet"), tmp_path)
    assert "cannot list s3://brand-exports/crm/*.parquet" in message
    assert "Could not connect" in message and "s3-Secret-value" not in message


def test_missing_bucket_and_no_matching_object(tmp_path, s3_env):
    _, bucket = s3_env
    message = _fails(_entry(path="s3://no-such-bucket-here/crm.csv"), tmp_path)
    assert "NoSuchBucket" in message
    message = _fails(_entry(path=f"s3://{bucket}/crm/*.csv"), tmp_path)
    assert message == f"source 'crm': no object matches s3://{bucket}/crm/*.csv"


def test_the_failed_run_shows_the_message_and_no_secret(
    tmp_path, postgres_server, crm_table, monkeypatch
):
    wrong = "wrong-Secret-456"
    monkeypatch.setenv("CRM_DATABASE_URL", postgres_server.url(password=wrong))
    text, logs = _failed_run(_pg(crm_table), tmp_path)
    assert "source 'crm'" in text and "password authentication failed" in text
    assert wrong not in logs and postgres_server.password not in logs
