import pytest

from braze_assets.currents.local_s3 import LocalS3

pytestmark = pytest.mark.integration


def test_objects_survive_a_restart_with_a_state_dir(tmp_path):
    with LocalS3(state_dir=tmp_path / "s3") as first:
        assert first.endpoint_url.startswith("http://127.0.0.1:")
        client = first.client()
        client.create_bucket(Bucket="demo-currents")
        client.put_object(
            Bucket="demo-currents", Key="a/event_type=x/date=2026-11-29-01/f.avro", Body=b"avro"
        )
    with LocalS3(state_dir=tmp_path / "s3") as second:
        body = second.client().get_object(
            Bucket="demo-currents", Key="a/event_type=x/date=2026-11-29-01/f.avro"
        )
        assert body["Body"].read() == b"avro"


def test_endpoint_before_start_is_an_error():
    with pytest.raises(RuntimeError, match="not running"):
        _ = LocalS3().endpoint_url
