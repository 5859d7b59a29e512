"""BrazeResource wiring: the key comes from the environment and never shows up."""

import dagster as dg
import pytest

from braze_assets.braze.client import BrazeError
from braze_assets.defs.braze.resources import BrazeResource, braze_resource_from_env
from braze_assets_tests.braze.conftest import SECRET, attrs

pytestmark = pytest.mark.integration


def test_resource_from_env_sends_through_the_sandbox_without_leaking_the_key(
    sandbox, monkeypatch, capsys
):
    monkeypatch.setenv("BRAZE_API_KEY", SECRET)
    monkeypatch.setenv("BRAZE_REST_ENDPOINT", sandbox.url)
    monkeypatch.delenv("BRAZE_INSTANCE", raising=False)
    resource = braze_resource_from_env()

    @dg.asset
    def pushed(context: dg.AssetExecutionContext, braze: BrazeResource) -> dg.MaterializeResult:
        with braze.get_client(logger=context.log) as client:
            result = client.track_attributes(attrs(120))
            context.log.info(f"client {client!r} resource {braze!r}")
        return dg.MaterializeResult(
            metadata={"delivered": result.delivered, "client": repr(client)}
        )

    instance = dg.DagsterInstance.ephemeral()
    outcome = dg.materialize([pushed], resources={"braze": resource}, instance=instance)
    assert outcome.success
    records = instance.fetch_materializations(dg.AssetKey("pushed"), limit=1).records
    assert records[0].asset_materialization.metadata["delivered"].value == 120
    logs = [str(entry) for entry in instance.all_logs(outcome.run_id)]
    assert logs and not any(SECRET in line for line in logs)
    assert SECRET not in repr(resource) and SECRET not in str(resource)
    assert SECRET not in capsys.readouterr().err


def test_resource_instance_and_errors(monkeypatch):
    resource = BrazeResource(api_key="k-123456789", instance="eu-01", concurrency=2)
    with resource.get_client() as client:
        assert (
            client.endpoint == "https://rest.fra-01.braze.eu" and client.instance_label == "EU-01"
        )
    with pytest.raises(ValueError, match="valid instances"):
        BrazeResource(api_key="k", instance="US-42").get_client()
    with pytest.raises(BrazeError):
        BrazeResource(api_key="", instance="US-01").get_client()


def test_braze_domain_provides_the_braze_resource(monkeypatch):
    from braze_assets.defs.braze.definitions import BRAZE_RESOURCE_KEY, build_defs

    monkeypatch.setenv("BRAZE_INSTANCE", "US-03")
    monkeypatch.delenv("BRAZE_REST_ENDPOINT", raising=False)
    resource = build_defs().resources[BRAZE_RESOURCE_KEY]
    assert (
        isinstance(resource, BrazeResource)
        and resource.endpoint() == "https://rest.iad-03.braze.com"
    )
