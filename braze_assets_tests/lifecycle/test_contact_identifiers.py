"""email and phone as a destination's identifier: normalised as Braze matches them, invalid ones
rejected by name, and sent as the /users/track `email` / `phone` key, over HTTP to the sandbox."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from braze_assets.attributes.builder import build_braze_customer_attributes
from braze_assets.attributes.config import DestinationConfig
from braze_assets.braze.client import BrazeClient
from braze_assets.sandbox import DEFAULT_API_KEY
from braze_assets.sync.config import ResolvedSyncSettings
from braze_assets.sync.runner import sync_destination
from braze_assets.sync.snapshots import build_snapshot
from braze_assets_tests.attributes.test_builder import TODAY, warehouse

pytestmark = pytest.mark.integration
ATTRIBUTES = [
    {"name": "first_name", "column": "given_name", "type": "string"},
    {"name": "loyalty_status", "column": "loyalty_tier", "type": "string"},
]


def destination(kind: str) -> DestinationConfig:
    return DestinationConfig(
        name=f"by_{kind}", identifier=kind, identifier_column=kind, attributes=ATTRIBUTES
    )


@pytest.mark.parametrize(
    ("kind", "good", "bad", "reason"),
    [
        ("email", "ann@example.com", "bad@", "identifier invalid email"),
        ("phone", "+14155552671", "123", "identifier not a valid phone number"),
    ],
)
def test_profiles_keyed_by_email_or_phone(tmp_path, sandbox, kind, good, bad, reason):
    con = warehouse(tmp_path / "w.duckdb")
    target = destination(kind)
    build_braze_customer_attributes(con, [target], today=TODAY)
    rejected = con.execute(
        "SELECT customer_id, attribute, value, reason FROM braze_attribute_rejections "
        "WHERE attribute = ?",
        [kind],
    ).fetchall()
    assert [(c, a, v) for c, a, v, _ in rejected] == [("c2", kind, bad)]
    assert rejected[0][3].startswith(reason)
    build_snapshot(con, [target], TODAY)
    with BrazeClient(DEFAULT_API_KEY, sandbox.url) as client:
        report = sync_destination(
            con,
            client,
            destination=target.name,
            identifier_type=kind,
            clear_attributes=(),
            settings=ResolvedSyncSettings(destination=target.name, update_existing_only=False),
            journal_root=tmp_path / "journal",
            snapshot_date=TODAY,
        )
    assert report.objects_delivered >= 1 and report.objects_rejected == 0
    ann = [p for p in sandbox.profiles() if p.get(kind) == good]
    assert len(ann) == 1 and "external_id" not in ann[0]
    assert ann[0]["first_name"] == "Ann" and ann[0]["custom_attributes"]["loyalty_status"] == "gold"
    assert not [p for p in sandbox.profiles() if p.get(kind) == bad]


def test_an_email_identifier_is_not_also_an_attribute():
    with pytest.raises(ValidationError, match="identifies profiles by email"):
        DestinationConfig(
            name="by_email",
            identifier="email",
            identifier_column="email",
            attributes=[*ATTRIBUTES, {"name": "email", "column": "email", "type": "string"}],
        )
