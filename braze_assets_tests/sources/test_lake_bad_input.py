"""Bad input for gs://, Delta and Iceberg locations: unreachable storage, broken credentials and
a missing bucket, table or path stop with a message naming the source and the problem, and no
credential value from the environment appears in it (nor in the failed run's logs)."""

from __future__ import annotations

import json

import pytest

from braze_assets_tests.sources.lake import arrow_table, write_delta
from braze_assets_tests.sources.test_bad_input import (
    _closed_port,
    _closed_s3,
    _entry,
    _failed_run,
    _fails,
)

pytestmark = pytest.mark.integration

SECRET = "lake-Secret-value-0123456789"


def test_unreachable_gcs(tmp_path, monkeypatch):
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", f"http://127.0.0.1:{_closed_port()}")
    message = _fails(_entry(path="gs://brand-exports/crm/*.csv"), tmp_path)
    assert "cannot list gs://brand-exports/crm/*.csv" in message
    # The client's retries are bounded (15 s), not its default two minutes.
    assert "Timeout of 15.0s exceeded" in message and "Connection refused" in message


def test_broken_gcs_credentials_name_the_problem_not_the_key(tmp_path, monkeypatch):
    monkeypatch.delenv("STORAGE_EMULATOR_HOST", raising=False)
    key_file = tmp_path / "key.json"
    key_file.write_text(
        json.dumps(
            {
                "type": "service_account",
                "project_id": "brand",
                "private_key_id": "abc",
                "private_key": f"-----BEGIN PRIVATE KEY-----\n{SECRET}\n-----END PRIVATE KEY-----\n",
                "client_email": "loader@brand.iam.gserviceaccount.com",
                "token_uri": "https://oauth2.googleapis.com/token",
            }
        )
    )
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(key_file))
    message = _fails(_entry(path="gs://brand-exports/crm.csv"), tmp_path)
    assert "cannot set up Google Cloud Storage credentials" in message
    assert SECRET not in message


def test_missing_gcs_bucket_and_no_matching_object(tmp_path, gcs_env):
    message = _fails(_entry(path="gs://no-such-bucket-here/crm.csv"), tmp_path)
    assert "cannot list gs://no-such-bucket-here/crm.csv" in message and "404" in message
    message = _fails(_entry(path=f"gs://{gcs_env.name}/crm/*.csv"), tmp_path)
    assert message == f"source 'crm': no object matches gs://{gcs_env.name}/crm/*.csv"


def test_missing_delta_table(tmp_path, s3_env, monkeypatch):
    _, bucket = s3_env
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)  # moto accepts any key
    (tmp_path / "lake" / "nope").mkdir(parents=True)
    for path in (str(tmp_path / "lake" / "nope"), f"s3://{bucket}/lake/nope"):
        message = _fails(_entry(path=path, format="delta"), tmp_path)
        assert f"cannot read Delta table {path}: no Delta table there" in message
        assert SECRET not in message


def test_missing_iceberg_table(tmp_path, s3_env, monkeypatch):
    _, bucket = s3_env
    (tmp_path / "ice" / "nope" / "metadata").mkdir(parents=True)
    message = _fails(_entry(path=str(tmp_path / "ice" / "nope"), format="iceberg"), tmp_path)
    assert "cannot read Iceberg table" in message and "no metadata file" in message
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    path = f"s3://{bucket}/ice/nope/metadata/00001-x.metadata.json"
    message = _fails(_entry(path=path), tmp_path)
    assert f"cannot read Iceberg table {path}: no Iceberg table there" in message
    assert SECRET not in message


@pytest.mark.parametrize("fmt", ["delta", "iceberg"])
def test_unreachable_s3_table(fmt, tmp_path, monkeypatch):
    _closed_s3(monkeypatch, SECRET)
    message = _fails(_entry(path="s3://lake/customers", format=fmt), tmp_path)
    assert f"cannot read {fmt.title()} table s3://lake/customers: " in message
    assert "connect" in message.lower() or "error performing" in message.lower()
    assert SECRET not in message


def test_missing_column_in_a_delta_table(tmp_path):
    write_delta(
        str(tmp_path / "lake"),
        arrow_table([{"id": "1", "updated_at": "2024-01-01 00:00:00", "mail": "a@mail.test"}]),
    )
    message = _fails(_entry(path=str(tmp_path / "lake"), format="delta"), tmp_path)
    assert "column(s) email declared in the config are missing" in message
    assert "(it has: id, updated_at, mail)" in message


def test_the_failed_run_shows_the_message_and_no_secret(tmp_path, monkeypatch):
    _closed_s3(monkeypatch, SECRET)
    text, logs = _failed_run(_entry(path="s3://lake/customers", format="delta"), tmp_path)
    assert "source 'crm'" in text and "cannot read Delta table s3://lake/customers" in text
    assert SECRET not in logs


def test_wrong_s3_credentials_name_the_problem_not_the_secret(
    tmp_path, checking_s3_server, monkeypatch
):
    import boto3

    endpoint, key_id, secret = checking_s3_server
    s3 = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=key_id,
        aws_secret_access_key=secret,
    )
    s3.create_bucket(Bucket="brand-lake")
    s3.put_object(Bucket="brand-lake", Key="exports/crm.csv", Body=b"id,email,updated_at\n")
    s3.put_object(Bucket="brand-lake", Key="ice/crm/metadata/00001-a.metadata.json", Body=b"{}")
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", key_id)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)  # not the user's secret
    for location, expected in (
        ({"path": "s3://brand-lake/exports/*.csv"}, "SignatureDoesNotMatch"),
        ({"path": "s3://brand-lake/lake/crm", "format": "delta"}, "403 Forbidden"),
        ({"path": "s3://brand-lake/ice/crm", "format": "iceberg"}, "SignatureDoesNotMatch"),
        ({"path": "s3://brand-lake/ice/crm/metadata/00001-a.metadata.json"}, "ACCESS_DENIED"),
    ):
        message = _fails(_entry(**location), tmp_path)
        assert expected in message, message
        assert SECRET not in message and secret not in message
