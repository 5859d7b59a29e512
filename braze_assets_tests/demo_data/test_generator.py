"""The generator's contract: the configured files, deterministic bytes, a size knob, safe reruns."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import polars as pl
import pytest

from braze_assets.config import load_config
from braze_assets.demo_data import DemoDataExistsError, generate_demo_data
from braze_assets.demo_data.generator import MANIFEST, all_files
from braze_assets.settings import PROJECT_DIR

from .conftest import AS_OF, PEOPLE, REPORTED_STEPS, read


def _bytes(data_dir: Path) -> dict[str, bytes]:
    return {
        p.relative_to(data_dir).as_posix(): p.read_bytes()
        for p in sorted(data_dir.rglob("*"))
        if p.is_file()
    }


def test_same_seed_gives_same_bytes_and_another_seed_does_not(tmp_path: Path) -> None:
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    generate_demo_data(a, people=400, seed=3, as_of=AS_OF)
    # Another process in another time zone: still the same bytes.
    code = (
        "import sys; from datetime import date; from pathlib import Path; "
        "from braze_assets.demo_data import generate_demo_data; "
        "generate_demo_data(Path(sys.argv[1]), people=400, seed=3, as_of=date.fromisoformat(sys.argv[2]))"
    )
    subprocess.run(
        [sys.executable, "-c", code, str(b), AS_OF.isoformat()],
        check=True,
        cwd=PROJECT_DIR,
        env={**os.environ, "TZ": "Pacific/Auckland"},
    )
    generate_demo_data(c, people=400, seed=4, as_of=AS_OF)
    first = _bytes(a)
    assert set(first) == {p.as_posix() for p in all_files()} | {MANIFEST.as_posix()}
    assert first == _bytes(b)
    differing = [k for k, v in _bytes(c).items() if first[k] != v]
    assert "sources/ecommerce_accounts.csv" in differing and "sources/orders.csv" in differing


def test_every_person_appears_and_size_scales(demo_dir: Path, tmp_path: Path) -> None:
    truth = read(demo_dir, "demo_truth/person_truth.csv")
    assert truth["person_id"].n_unique() == PEOPLE
    small = generate_demo_data(tmp_path, people=500, seed=11, as_of=AS_OF)
    assert read(tmp_path, "demo_truth/person_truth.csv")["person_id"].n_unique() == 500
    big = json.loads((demo_dir / MANIFEST).read_text())["rows"]
    for rel, rows in small.rows.items():
        # Every file grows with the number of people (roughly linearly).
        assert 3 < big[rel] / rows < 9, rel


def test_files_have_exactly_the_configured_columns(demo_dir: Path) -> None:
    config = load_config()
    for source in config.sources:
        header = read(demo_dir, source.path).columns
        assert set(header) == {source.primary_key, source.updated_at, *source.columns}, source.name
        assert read(demo_dir, source.path)[source.primary_key].is_unique().all(), source.name
    for txn in config.transactions:
        header = set(read(demo_dir, txn.path).columns)
        wanted = {
            txn.primary_key,
            txn.customer_key,
            txn.ordered_at,
            txn.revenue,
            txn.items,
            txn.channel,
        } - {None}
        assert wanted <= header, txn.name


def test_truth_covers_every_record_and_never_leaks_into_sources(demo_dir: Path) -> None:
    config = load_config()
    truth = read(demo_dir, "demo_truth/person_truth.csv")
    assert truth.columns == ["source", "source_pk", "person_id"]
    for source in config.sources:
        frame = read(demo_dir, source.path)
        assert sorted(frame[source.primary_key]) == sorted(
            truth.filter(pl.col("source") == source.name)["source_pk"]
        )
    people = set(truth["person_id"])
    person_numbers = {p.removeprefix("person_").lstrip("0") for p in people}
    for rel in [p for p in all_files() if p.parts[0] == "sources"] + [
        Path("braze_workspace_users.csv")
    ]:
        text = (demo_dir / rel).read_text()
        assert "person_" not in text, rel
        frame = read(demo_dir, rel)
        for column in frame.columns:
            assert not set(frame[column].drop_nulls()) & people, (rel, column)
    # Record ids are numbered in shuffled order, so they do not encode the person either.
    ecommerce = truth.filter(pl.col("source") == "ecommerce").with_columns(
        n=pl.col("source_pk").str.slice(1).cast(pl.Int64),
        p=pl.col("person_id").str.slice(7).cast(pl.Int64),
    )
    assert abs(ecommerce.select(pl.corr("n", "p")).item()) < 0.1
    assert person_numbers  # the truth ids exist, they are just not in the sources


def test_transactions_link_to_source_records(demo_dir: Path) -> None:
    config = load_config()
    for txn in config.transactions:
        source = config.source(txn.source)
        keys = set(read(demo_dir, source.path)[source.primary_key])
        frame = read(demo_dir, txn.path)
        linked = frame[txn.customer_key].is_in(list(keys)).mean()
        assert 0.99 < linked <= 1.0, txn.name
        assert frame[txn.primary_key].is_unique().all()
        revenue = frame[txn.revenue].cast(pl.Decimal(18, 2), strict=False)
        assert revenue.drop_nulls().min() > 0
    orders = read(demo_dir, "sources/orders.csv")
    assert set(orders["channel"]) == {"web", "app"}
    # Many one-and-done buyers, a few loyal ones.
    per_account = orders.group_by("account_id").len()["len"]
    assert 0.25 < (per_account == 1).mean() < 0.6
    assert per_account.max() >= 15


def test_braze_workspace_users_are_most_ecommerce_accounts(demo_dir: Path) -> None:
    accounts = read(demo_dir, "sources/ecommerce_accounts.csv")
    users = read(demo_dir, "braze_workspace_users.csv")
    assert users.columns == ["external_id", "email"]
    assert set(users["external_id"]) <= set(accounts["external_id"])
    assert 0.85 < users.height / accounts.height < 0.95


def test_rerun_with_same_parameters_is_a_no_op(tmp_path: Path) -> None:
    first = generate_demo_data(tmp_path, people=200, seed=5, as_of=AS_OF)
    stamps = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*.csv")}
    again = generate_demo_data(tmp_path, people=200, seed=5)  # as_of left open matches any
    assert first.generated and not again.generated
    assert again.rows == first.rows and again.as_of == AS_OF
    assert "left as is" in str(again) and "sources/orders.csv" in str(again)
    assert stamps == {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*.csv")}
    # A deleted file is put back, byte for byte, without asking for overwrite.
    orders = tmp_path / "sources" / "orders.csv"
    before = orders.read_bytes()
    orders.unlink()
    assert generate_demo_data(tmp_path, people=200, seed=5).generated
    assert orders.read_bytes() == before


def test_other_parameters_need_overwrite(tmp_path: Path) -> None:
    generate_demo_data(tmp_path, people=200, seed=5, as_of=AS_OF)
    with pytest.raises(
        DemoDataExistsError, match=r"seed=5, people=200.*asked for seed=6.*overwrite=True"
    ):
        generate_demo_data(tmp_path, people=200, seed=6, as_of=AS_OF)
    with pytest.raises(DemoDataExistsError, match="as_of=2026-06-02"):
        generate_demo_data(tmp_path, people=200, seed=5, as_of=date(2026, 6, 2))
    redone = generate_demo_data(tmp_path, people=300, seed=6, as_of=AS_OF, overwrite=True)
    assert redone.generated
    assert json.loads((tmp_path / MANIFEST).read_text())["people"] == 300


def test_foreign_files_without_manifest_are_not_clobbered(tmp_path: Path) -> None:
    (tmp_path / "sources").mkdir()
    (tmp_path / "sources" / "orders.csv").write_text("mine\n")
    with pytest.raises(DemoDataExistsError, match="sources/orders.csv.*no demo_data/manifest.json"):
        generate_demo_data(tmp_path, people=200, as_of=AS_OF)
    assert (tmp_path / "sources" / "orders.csv").read_text() == "mine\n"


def test_an_interrupted_run_is_redone_without_overwrite(tmp_path: Path) -> None:
    with pytest.raises(_Crash):  # dies with some of the files written
        generate_demo_data(
            tmp_path,
            people=200,
            seed=5,
            as_of=AS_OF,
            progress=lambda step, done, total: _stop_at(step, "pos"),
        )
    manifest = json.loads((tmp_path / MANIFEST).read_text())
    assert manifest["complete"] is False and (tmp_path / "sources/loyalty_members.csv").exists()
    summary = generate_demo_data(tmp_path, people=200, seed=5, as_of=AS_OF)
    assert summary.generated and json.loads((tmp_path / MANIFEST).read_text())["complete"] is True


class _Crash(Exception):
    pass


def _stop_at(step: str, stop: str) -> None:
    if step == stop:
        raise _Crash


def test_progress_reports_every_step_in_order(tmp_path: Path) -> None:
    calls: list[tuple[str, int, int]] = []
    generate_demo_data(tmp_path, people=100, as_of=AS_OF, progress=lambda *call: calls.append(call))
    done = [c for c in calls if c[1] > 0]
    assert [c[1] for c in done] == list(range(1, len(done) + 1))
    assert done[-1][1] == done[-1][2]
    assert [c[0] for c in done] == REPORTED_STEPS


def test_too_few_people_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="at least 10"):
        generate_demo_data(tmp_path, people=3)
