"""Braze's Currents reference material shipped in `reference/` (see reference/SOURCE.md)."""

from __future__ import annotations

import io
import json
from functools import cache
from pathlib import Path

import fastavro

REFERENCE_DIR = Path(__file__).resolve().parent / "reference"
SCHEMAS_DIR = REFERENCE_DIR / "schemas"
SAMPLES_DIR = REFERENCE_DIR / "samples"
EVENT_TYPES_FILE = REFERENCE_DIR / "event-types.txt"


@cache
def event_type_fields() -> dict[str, list[tuple[str, str]]]:
    """Every event type -> [(field, avro type)] from Braze's list of all event types."""
    lines = EVENT_TYPES_FILE.read_text(encoding="utf-8").splitlines()
    result: dict[str, list[tuple[str, str]]] = {}
    for header, fields in zip(lines[0::2], lines[1::2], strict=True):
        event_type = header.split(" | ", 1)[0].strip()
        result[event_type] = [tuple(part.strip().split(":", 1)) for part in fields.split(", ")]
    return result


def schema_files() -> dict[str, Path]:
    return {path.stem: path for path in sorted(SCHEMAS_DIR.glob("*.avsc"))}


def sample_files() -> dict[str, Path]:
    return {path.stem: path for path in sorted(SAMPLES_DIR.glob("*.avro"))}


@cache
def writer_schema(event_type: str) -> dict:
    """Braze's writer schema: the .avsc when shipped, else the one inside the type's sample file."""
    path = SCHEMAS_DIR / f"{event_type}.avsc"
    if path.exists():
        return json.loads(path.read_text(encoding="utf-8"))
    sample = SAMPLES_DIR / f"{event_type}.avro"
    if not sample.exists():
        raise KeyError(f"no Braze writer schema for Currents event type {event_type!r}")
    return fastavro.reader(io.BytesIO(sample.read_bytes())).writer_schema
