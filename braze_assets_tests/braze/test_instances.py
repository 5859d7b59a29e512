import pytest

from braze_assets.braze.instances import INSTANCES, instance_for_endpoint, resolve_endpoint


def test_every_documented_instance_is_known():
    expected = {f"US-0{n}" for n in range(1, 9)} | {
        "US-10",
        "EU-01",
        "EU-02",
        "AU-01",
        "ID-01",
        "JP-01",
        "KR-01",
    }
    assert set(INSTANCES) == expected
    assert INSTANCES["US-03"] == "https://rest.iad-03.braze.com"
    assert INSTANCES["US-10"] == "https://rest.us-10.braze.com"
    assert INSTANCES["EU-02"] == "https://rest.fra-02.braze.eu"
    assert INSTANCES["KR-01"] == "https://rest.kr-01.braze.com"
    assert "US-09" not in INSTANCES


@pytest.mark.parametrize("spelling", ["US-03", "us-03", "US03", " us_03 "])
def test_instance_spellings(spelling):
    assert resolve_endpoint(spelling, None) == "https://rest.iad-03.braze.com"


def test_explicit_endpoint_wins():
    assert resolve_endpoint("US-03", "http://127.0.0.1:4010/") == "http://127.0.0.1:4010"


def test_unknown_instance_lists_valid_ones():
    with pytest.raises(ValueError) as err:
        resolve_endpoint("US-09", None)
    assert "US-09" in str(err.value) and "US-01" in str(err.value) and "KR-01" in str(err.value)


def test_nothing_configured_and_bad_endpoint():
    with pytest.raises(ValueError, match="BRAZE_REST_ENDPOINT"):
        resolve_endpoint(None, "  ")
    with pytest.raises(ValueError, match="https://"):
        resolve_endpoint(None, "rest.iad-03.braze.com")


def test_instance_for_endpoint():
    assert instance_for_endpoint("https://rest.fra-01.braze.eu/") == "EU-01"
    assert instance_for_endpoint("http://127.0.0.1:1") is None
