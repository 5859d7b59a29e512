import pytest

from braze_assets.currents.s3 import CurrentsBucket

from .conftest import PREFIX

pytestmark = pytest.mark.integration


def test_incremental_listing_pages_after_a_key(s3_client, bucket_name, bucket):
    keys = [f"{PREFIX}/k{i}" for i in range(5)]
    for key in keys:
        s3_client.put_object(Bucket=bucket_name, Key=key, Body=key.encode())
    s3_client.put_object(Bucket=bucket_name, Key="elsewhere/k", Body=b"x")
    first = bucket.list_new(None, max_keys=2)
    second = bucket.list_new(first[-1].key, max_keys=2)
    assert [o.key for o in first + second] == keys[:4]
    assert bucket.list_new(keys[-1]) == []
    assert [o.key for o in bucket.iter_objects(start_after=keys[1])] == keys[2:]
    assert all(o.etag and o.size for o in first)


def test_reads_conditional_reads_and_errors(s3_client, bucket_name, bucket):
    s3_client.put_object(Bucket=bucket_name, Key=f"{PREFIX}/a.avro", Body=b"avro")
    fetched = bucket.fetch(f"{PREFIX}/a.avro")
    assert fetched.data == bucket.read(f"{PREFIX}/a.avro") == b"avro"
    assert bucket.fetch(f"{PREFIX}/a.avro", if_none_match=fetched.etag) is None
    assert bucket.fetch(f"{PREFIX}/a.avro", if_none_match="0" * 32).data == b"avro"
    with pytest.raises(OSError, match=f"s3://{bucket_name}/{PREFIX}/missing.avro"):
        bucket.read(f"{PREFIX}/missing.avro")
    with pytest.raises(OSError, match="NoSuchBucket"):
        CurrentsBucket(s3_client, "no-such-bucket-here").list_new(None)
