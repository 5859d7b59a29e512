"""Real services for source tests: PostgreSQL, moto S3 servers (one checking signatures) and a GCS emulator, one each per session."""

from __future__ import annotations

import os
import socket
import uuid

import psycopg
import pytest

from braze_assets.currents.local_s3 import LOCAL_ACCESS_KEY, LOCAL_REGION, LOCAL_SECRET_KEY, LocalS3
from braze_assets_tests.sources.pg_server import PostgresServer, server_bin_dir


@pytest.fixture(scope="session")
def postgres_server():
    if server_bin_dir() is None:
        reason = "PostgreSQL server binaries are missing (apt-get install -y postgresql)"
        # CI must not pass by skipping: .ci/run installs postgresql.
        if os.environ.get("CI"):
            pytest.fail(f"{reason} (CI is set, so the Postgres tests may not be skipped)")
        pytest.skip(reason)
    with PostgresServer() as server:
        yield server


@pytest.fixture
def pg(postgres_server):
    """A fresh schema per test in the session's database, with its connection string in an env var."""
    schema = f"t_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(postgres_server.url(), autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
        conn.execute(f"SET search_path TO {schema}")
        yield conn, schema


@pytest.fixture(scope="session")
def local_s3_server():
    with LocalS3() as server:
        yield server


@pytest.fixture
def s3_env(local_s3_server, monkeypatch):
    """The S3 settings a user would export to reach the store, and a fresh bucket."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", local_s3_server.endpoint_url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", LOCAL_ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", LOCAL_SECRET_KEY)
    monkeypatch.setenv("AWS_REGION", LOCAL_REGION)
    bucket = f"brand-{uuid.uuid4().hex[:12]}"
    client = local_s3_server.client()
    client.create_bucket(Bucket=bucket)
    return client, bucket


@pytest.fixture(scope="session")
def local_gcs_server():
    """gcp-storage-emulator: a real HTTP server speaking the GCS JSON API, in memory."""
    from gcp_storage_emulator.server import create_server

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = create_server("127.0.0.1", port, in_memory=True)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture
def gcs_env(local_gcs_server, monkeypatch):
    """The setting a user would export to reach a GCS-compatible endpoint, and a fresh bucket."""
    from google.cloud import storage

    monkeypatch.setenv("STORAGE_EMULATOR_HOST", local_gcs_server)
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "brand-project")
    bucket = f"brand-{uuid.uuid4().hex[:12]}"
    client = storage.Client(project="brand-project")
    client.create_bucket(bucket)
    return client.bucket(bucket)


@pytest.fixture(scope="session")
def checking_s3_server():
    """A moto S3 server that checks request signatures (moto's IAM auth), with one user allowed
    s3:*; yields (endpoint, access key id, secret access key). The first three requests (the setup
    below) are let through unsigned, as moto's INITIAL_NO_AUTH_ACTION_COUNT provides."""
    import json

    import boto3

    previous = os.environ.get("INITIAL_NO_AUTH_ACTION_COUNT")
    os.environ["INITIAL_NO_AUTH_ACTION_COUNT"] = "3"
    try:
        server = LocalS3().start()
    finally:
        if previous is None:
            del os.environ["INITIAL_NO_AUTH_ACTION_COUNT"]
        else:
            os.environ["INITIAL_NO_AUTH_ACTION_COUNT"] = previous
    try:
        iam = boto3.client(
            "iam",
            endpoint_url=server.endpoint_url,
            region_name=LOCAL_REGION,
            aws_access_key_id="setup",
            aws_secret_access_key="setup",
        )
        iam.create_user(UserName="loader")
        policy = {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}],
        }
        iam.put_user_policy(UserName="loader", PolicyName="s3", PolicyDocument=json.dumps(policy))
        key = iam.create_access_key(UserName="loader")["AccessKey"]
        yield server.endpoint_url, key["AccessKeyId"], key["SecretAccessKey"]
    finally:
        server.stop()
