"""A real moto S3 server on 127.0.0.1 for the whole session, one fresh bucket per test."""

from __future__ import annotations

import uuid

import duckdb
import pytest

from braze_assets.currents.local_s3 import LocalS3
from braze_assets.currents.s3 import CurrentsBucket

PREFIX = "braze/currents"


@pytest.fixture(scope="session")
def local_s3():
    with LocalS3() as server:
        yield server


@pytest.fixture(scope="session")
def s3_client(local_s3):
    return local_s3.client()


@pytest.fixture
def bucket_name(s3_client) -> str:
    name = f"currents-{uuid.uuid4().hex[:12]}"
    s3_client.create_bucket(Bucket=name)
    return name


@pytest.fixture
def bucket(s3_client, bucket_name) -> CurrentsBucket:
    return CurrentsBucket(s3_client, bucket_name, PREFIX)


@pytest.fixture
def warehouse(tmp_path):
    con = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    yield con
    con.close()
