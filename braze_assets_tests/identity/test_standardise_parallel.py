"""Standardisation with its per-value maps spread over worker processes writes the same table."""

from __future__ import annotations

import pytest

from braze_assets.engine import parallel
from braze_assets.identity.standardise import TABLE, standardise


@pytest.mark.skipif(parallel.cores() < 2, reason="one core: maps stay in-process")
def test_workers_standardise_every_value_as_this_process_does(
    demo_warehouse, identity, monkeypatch
):
    con, config, _ = demo_warehouse
    standardise(con, config, identity)
    here = con.execute(f"SELECT * FROM {TABLE} ORDER BY record_id").fetchall()
    # Every map, however small, on the workers (the 1M benchmark's maps go there by size).
    monkeypatch.setattr(parallel, "MIN_VALUES", 0)
    standardise(con, config, identity)
    assert con.execute(f"SELECT * FROM {TABLE} ORDER BY record_id").fetchall() == here
    assert len(here) > 250
