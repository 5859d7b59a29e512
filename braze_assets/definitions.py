"""The Dagster code location: every domain's definitions merged, in the order data flows."""

from __future__ import annotations

import importlib
import importlib.util

import dagster as dg

from braze_assets.defs.resources import warehouse_resource

# sources -> identity -> customer 360 -> attributes -> audiences -> snapshots -> sync;
# currents -> engagement -> customer 360.
DOMAINS = (
    "sources",
    "identity",
    "customer_360",
    "currents",
    "engagement",
    "attributes",
    "audiences",
    "snapshots",
    "sync",
    "braze",
    "jobs",
)


def _domain_defs() -> list[dg.Definitions]:
    found = []
    for domain in DOMAINS:
        module_name = f"braze_assets.defs.{domain}.definitions"
        if importlib.util.find_spec(f"braze_assets.defs.{domain}") is None:
            continue
        if importlib.util.find_spec(module_name) is None:
            continue
        found.append(importlib.import_module(module_name).build_defs())
    return found


def build_definitions() -> dg.Definitions:
    return dg.Definitions.merge(
        dg.Definitions(resources={"duckdb": warehouse_resource()}),
        *_domain_defs(),
    )


defs = build_definitions()
