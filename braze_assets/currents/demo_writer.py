"""Realistic Currents files for the demo's Braze users, written to S3 like Braze writes them.

Files use Braze's real writer schemas and key layout (mostly `version=10/production`, some from an
older connector with the legacy `<schema-id>/<zone>` layout), one file per event type and 5-minute
flush, and re-deliver a share of events in a later file, as Braze's at-least-once delivery does.
Everything is drawn from one seeded random generator, so the same arguments give the same files.
"""

from __future__ import annotations

import hashlib
import io
import json
import random
import uuid
from collections import defaultdict
from datetime import UTC, datetime, timedelta

import fastavro

from braze_assets.currents.schemas import writer_schema

CLUSTER = "prod-03"
INTEGRATION_ID = "5f3c9e1a2b4d6e8f0a1b2c3d"
LEGACY_INTEGRATION_ID = "4e2b8d0c1a3f5e7d9c0b1a2e"
LEGACY_SCHEMA_ID = "327"
LEGACY_ZONE = "us-east-1"
FLUSH_SECONDS = 300
# Every this many files of a type one goes through the older connector (legacy key layout).
LEGACY_EVERY = 7

APP_GROUP_ID = "a1b2c3d4-e5f6-4a5b-8c7d-9e0f1a2b3c4d"
APPS = [
    ("b2c3d4e5-f6a7-4b8c-9d0e-1f2a3b4c5d6e", "ios"),
    ("c3d4e5f6-a7b8-4c9d-0e1f-2a3b4c5d6e7f", "android"),
]
CAMPAIGNS = [
    ("Welcome series", "welcome"),
    ("Winter sale", "winter_sale"),
    ("Back in stock", "back_in_stock"),
    ("Loyalty update", "loyalty"),
]
PRODUCTS = [
    ("sku-espresso", 12.5),
    ("sku-mug", 18.0),
    ("sku-grinder", 89.0),
    ("sku-beans-1kg", 24.9),
]
CUSTOM_EVENTS = ["viewed_product", "added_to_cart", "searched", "wishlist_added"]
TIMEZONES = ["Europe/Berlin", "Europe/London", "America/New_York", "America/Los_Angeles"]
USER_AGENT = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_6 like Mac OS X) AppleWebKit/605.1.15"


def braze_id(external_id: str) -> str:
    """A stable 24-hex Braze user id for a demo external id."""
    return hashlib.sha1(external_id.encode()).hexdigest()[:24]


def write_demo_currents(
    s3_client,
    bucket: str,
    prefix: str,
    users: list[dict],
    *,
    start: datetime,
    hours: int,
    seed: int = 7,
    events_per_hour: int = 500,
    duplicate_share: float = 0.02,
    codec: str = "deflate",
    flush_seconds: int = FLUSH_SECONDS,
) -> list[str]:
    """Write `hours` hours of Currents from `start` (UTC) and return the keys written, in order."""
    if not users:
        raise ValueError(
            "write_demo_currents needs at least one user (dicts with external_id and email)"
        )
    rng = random.Random(seed)
    start = start.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    events: dict[str, list[dict]] = defaultdict(list)
    for hour in range(hours):
        hour_start = start + timedelta(hours=hour)
        produced = 0
        while produced < events_per_hour:
            user = users[rng.randrange(len(users))]
            moment = hour_start + timedelta(seconds=rng.randrange(3600 - 600))
            for event_type, record in _scenario(rng, user, moment):
                events[event_type].append(record)
                produced += 1

    keys: list[str] = []
    for event_type in sorted(events):
        files = _flushes(sorted(events[event_type], key=lambda r: r["time"]), flush_seconds)
        _redeliver(rng, files, duplicate_share)
        schema = fastavro.parse_schema(writer_schema(event_type))
        offset = 0
        for index, records in enumerate(files):
            key = _key(
                prefix,
                event_type,
                records[0]["time"],
                offset,
                legacy=index % LEGACY_EVERY == LEGACY_EVERY - 1,
            )
            body = io.BytesIO()
            filled = [_fill(writer_schema(event_type), r) for r in records]
            fastavro.writer(body, schema, filled, codec=codec, sync_marker=rng.randbytes(16))
            s3_client.put_object(Bucket=bucket, Key=key, Body=body.getvalue())
            keys.append(key)
            offset += len(records)
    return keys


def _scenario(rng: random.Random, user: dict, moment: datetime) -> list[tuple[str, dict]]:
    """One user's burst of activity: an email journey, a purchase, or an app session."""
    external_id = str(user["external_id"])
    base = {
        "user_id": braze_id(external_id),
        "external_user_id": external_id,
        "app_group_id": APP_GROUP_ID,
        "timezone": TIMEZONES[int(braze_id(external_id), 16) % len(TIMEZONES)],
    }

    def event(offset_seconds: int, **fields) -> dict:
        at = moment + timedelta(seconds=offset_seconds)
        return {
            **base,
            "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "time": int(at.timestamp()),
            **fields,
        }

    roll = rng.random()
    if roll < 0.55 and user.get("email"):
        return _email_journey(rng, user["email"], event)
    app_id, platform = APPS[rng.randrange(len(APPS))]
    device = {"app_id": app_id, "platform": platform, "device_id": base["user_id"][:12] + platform}
    session = [
        (
            "users.behaviors.app.SessionStart",
            event(0, session_id=f"s-{rng.getrandbits(48):012x}", **device),
        ),
        (
            "users.behaviors.CustomEvent",
            event(
                30,
                name=rng.choice(CUSTOM_EVENTS),
                properties=json.dumps({"screen": "home"}),
                **device,
            ),
        ),
    ]
    if roll < 0.8:
        product, price = PRODUCTS[rng.randrange(len(PRODUCTS))]
        quantity = rng.randint(1, 3)
        properties = json.dumps({"quantity": quantity, "coupon": rng.choice([None, "WINTER10"])})
        session.append(
            (
                "users.behaviors.Purchase",
                event(
                    90,
                    product_id=product,
                    price=price,
                    currency="EUR",
                    properties=properties,
                    **device,
                ),
            )
        )
    return session


def _email_journey(rng: random.Random, email: str, event) -> list[tuple[str, dict]]:
    name, slug = CAMPAIGNS[rng.randrange(len(CAMPAIGNS))]
    message = {
        "campaign_id": _uuid_for(slug),
        "campaign_name": name,
        "message_variation_id": _uuid_for(slug + "/variant-a"),
        "message_variation_name": "Variant A",
        "dispatch_id": f"{rng.getrandbits(96):024x}",
        "send_id": _uuid_for(slug + "/send"),
        "email_address": email,
        "from_domain": "mail.example.com",
        "ip_pool": "marketing",
        "esp": "SparkPost",
    }
    journey = [("users.messages.email.Send", event(0, **message))]
    fate = rng.random()
    if fate < 0.04:
        journey.append(
            (
                "users.messages.email.Bounce",
                event(20, bounce_reason="550 5.1.1 user unknown", **message),
            )
        )
        return journey
    if fate < 0.07:
        journey.append(
            (
                "users.messages.email.SoftBounce",
                event(20, bounce_reason="452 mailbox full", **message),
            )
        )
        return journey
    journey.append(("users.messages.email.Delivery", event(15, sending_ip="192.0.2.10", **message)))
    if rng.random() < 0.45:
        opened = {
            **message,
            "user_agent": USER_AGENT,
            "device_class": "mobile",
            "machine_open": rng.choice([None, "true"]),
        }
        journey.append(("users.messages.email.Open", event(rng.randrange(60, 500), **opened)))
        if rng.random() < 0.35:
            url = f"https://shop.example.com/{slug}"
            journey.append(
                (
                    "users.messages.email.Click",
                    event(rng.randrange(520, 580), url=url, link_alias=slug, **opened),
                )
            )
        elif rng.random() < 0.05:
            journey.append(("users.messages.email.Unsubscribe", event(530, **message)))
    return journey


def _uuid_for(text: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"braze-assets-demo/{text}"))


def _flushes(records: list[dict], flush_seconds: int) -> list[list[dict]]:
    """Split a type's events into Braze-like files: one per flush window (Braze: 5 minutes)."""
    windows: dict[int, list[dict]] = defaultdict(list)
    for record in records:
        windows[record["time"] // flush_seconds].append(record)
    return [windows[w] for w in sorted(windows)]


def _redeliver(rng: random.Random, files: list[list[dict]], share: float) -> None:
    """Copy a share of each file's events into the next file, as an at-least-once redelivery."""
    for current, following in zip(files, files[1:]):
        following.extend(dict(r) for r in current if rng.random() < share)


def _key(prefix: str, event_type: str, first_time: int, offset: int, *, legacy: bool) -> str:
    hour = datetime.fromtimestamp(first_time, UTC).strftime("%Y-%m-%d-%H")
    integration = LEGACY_INTEGRATION_ID if legacy else INTEGRATION_ID
    connector = f"dataexport.{CLUSTER}.S3.integration.{integration}"
    layout = f"{LEGACY_SCHEMA_ID}/{LEGACY_ZONE}" if legacy else "version=10/production"
    parts = [
        prefix.strip("/"),
        connector,
        f"event_type={event_type}",
        f"date={hour}",
        layout,
        f"{connector}+0+{offset}.avro",
    ]
    return "/".join(p for p in parts if p)


def _fill(schema: dict, values: dict) -> dict:
    """A record with every field of the writer schema: given values, else null, else a typed blank."""
    record = {}
    for field in schema["fields"]:
        name, kind = field["name"], field["type"]
        if name in values:
            record[name] = values[name]
        elif name == "time_ms":
            record[name] = values["time"] * 1000
        elif isinstance(kind, list) and "null" in kind:
            record[name] = None
        else:
            record[name] = {
                "string": "",
                "int": 0,
                "long": 0,
                "float": 0.0,
                "double": 0.0,
                "boolean": False,
            }[kind]
    return record
