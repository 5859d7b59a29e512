"""EM's estimates held at Splink's floor instead of the session failing (match._em_floor).

Splink rejects an m or u under 1e-300; a level whose m shrinks every iteration crossed it on one
engine and not the other (1M records: Spark only; 4M: both), and the whole session was dropped.
"""

from __future__ import annotations

import duckdb
import pytest
from splink import DuckDBAPI
from splink.internals import expectation_maximisation as em
from splink.internals.comparison_level import M_U_CLAMP_MIN
from splink.internals.duckdb.dataframe import DuckDBDataFrame
from splink.internals.m_u_records_to_parameters import m_u_records_to_lookup_dict

from braze_assets.identity.match import _em_floor


def _params(con):
    # The M step's counts for one comparison: level 1 has no weight left under the matches.
    con.execute(
        "CREATE TABLE params AS SELECT * FROM (VALUES "
        "(0, 'gamma_email', 5.0, 3.0), (1, 'gamma_email', 0.0, 2.0), (2, 'gamma_email', 1e-320, 1.0), "
        "(3, 'gamma_email', 4.0, 0.0), (0, '_probability_two_random_records_match', 0.0, 0.0)"
        ") t(comparison_vector_value, output_column_name, m_count, u_count)"
    )
    return DuckDBDataFrame("params", "params", DuckDBAPI(con))


def test_m_under_the_floor_is_held_there_and_named():
    con = duckdb.connect()
    df = _params(con)
    floored: list[str] = []
    with _em_floor(floored):
        records = em.compute_proportions_for_new_parameters(df)
    lookup = m_u_records_to_lookup_dict(
        [r for r in records if r["output_column_name"] == "gamma_email"]
    )["gamma_email"]
    assert lookup[0]["m_probability"] == pytest.approx(5 / 9)
    assert lookup[1]["m_probability"] == M_U_CLAMP_MIN
    assert lookup[2]["m_probability"] == M_U_CLAMP_MIN
    assert floored == ["gamma_email level 1", "gamma_email level 2"]
    # u is left as computed: the sessions keep u fixed and Splink ignores the M step's u.
    assert lookup[3]["u_probability"] == 0.0
    # The prior's row is Splink's own (its count is not a probability to clamp).
    prior = next(r for r in records if r["output_column_name"].startswith("_probability"))
    assert prior["m_probability"] == 0.0
    # Outside the block Splink's own M step is back, and gives what Splink then rejects.
    assert (
        em.compute_proportions_for_new_parameters.__name__
        == "compute_proportions_for_new_parameters"
    )
    plain = em.compute_proportions_for_new_parameters(df)
    assert min(r["m_probability"] for r in plain if r["output_column_name"] == "gamma_email") == 0.0


def test_floor_is_restored_when_the_session_fails():
    original = em.compute_proportions_for_new_parameters
    with pytest.raises(RuntimeError), _em_floor([]):
        assert em.compute_proportions_for_new_parameters is not original
        raise RuntimeError("session failed")
    assert em.compute_proportions_for_new_parameters is original
