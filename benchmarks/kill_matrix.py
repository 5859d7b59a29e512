"""Randomised kill matrix: `braze-assets demo` killed with SIGKILL (its whole process group) at
random points in each stage, rerun, and compared with a clean run.

    .venv/bin/python benchmarks/kill_matrix.py --cases 14 --seed 1

Each case copies one generated demo data dir, starts its own HTTP Braze sandbox (optionally rate
limited), runs the demo, kills it at a random moment of a chosen stage (sources, identity,
customer 360, audiences, snapshots, sync, currents), reruns it, and compares with a clean run of the
same data:

- the warehouse tables a user sees (customer ids and their records, customer 360 and attributes,
  audiences and recipients, attribute snapshots, confirmed Braze state, pending rejections,
  Currents events), without run ids and timestamps;
- the profiles the sandbox holds (every value, without Braze's own ids and creation times);
- values resent: attribute objects the sandbox accepted beyond those of the clean run. A resend is
  allowed only for the batches in flight at the kill (the client sends at most 8 at once).

A stage is targeted by waiting until one of its steps holds the `duckdb_warehouse` pool slot, then
sleeping a random 0..--max-delay s (so the kill falls at the step's start, middle or just after);
the sync stage is targeted by the number of batches the sandbox has accepted. Where the kill
actually fell (the step holding the slot at that moment) is reported per case.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import duckdb

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from braze_assets.sandbox import SandboxServer  # noqa: E402
from braze_assets.sandbox.api import ALL_PERMISSIONS  # noqa: E402

KEY = "kill-matrix-key"
BATCH = 75
IN_FLIGHT = 8  # the Braze client's concurrency: batches that can be in flight at a kill
POOL = "duckdb_warehouse"

STAGES = ["sources", "identity", "customer_360", "audiences", "snapshots", "sync", "currents"]

# Tables a user sees, each with the columns that name a run or a moment (left out of the comparison).
TABLES = {
    "customer_id_registry": {
        "created_at",
        "created_run_id",
        "retired_at",
        "retired_run_id",
        "updated_at",
        "updated_run_id",
    },
    "customer_id_assignments": {"assigned_at", "run_id"},
    "customer_360": set(),
    # as_of: when the engagement rollup ran.
    "customer_attribute_source": {"as_of"},
    "transaction_attributes": set(),
    "engagement_attributes": {"as_of"},
    "braze_customer_attributes": set(),
    # member_group: see SPLIT below.
    "audience_members": {"run_id", "computed_at", "member_group"},
    "attribute_snapshots": set(),
    "braze_confirmed_state": {"confirmed_at", "run_id"},
    "currents_events": set(),
}
# Logs: a rerun appends to them; compared as sets (what is pending), not row by row.
# campaign_recipients is the history of who each completed campaign run selected, so a campaign
# that completed before the kill and again in the rerun appears twice, as in two clean runs.
LOG_TABLES = {
    "braze_sync_rejections": {"run_id", "rejected_at", "first_rejected_at"},
    "campaign_recipients": {"run_id", "computed_at", "member_group"},
}
PROFILE_VOLATILE = {"braze_id", "created_at"}
# Tables with an `attribute` column: rows of campaign attributes are compared within the case (see
# `consistency`), not with the clean run. A campaign's control group is drawn from a hash of the
# customer id, and two independent runs mint different ids for the same customer, so the clean run
# and a case put different customers in control by design.
SPLIT = "split"
ATTRIBUTE_TABLES = {"attribute_snapshots", "braze_confirmed_state", "braze_sync_rejections"}
# Customer ids are minted from the run that first saw the customer, so two independent runs give
# the same customer different ids: each is compared by its first source record instead.
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


# Steps whose start triggers a stage's kill: the customer 360 job starts with engagement_attributes
# (from Currents) before its sources, so the stage is targeted at its own tables.
TRIGGERS = {"customer_360": ("customer_360", "transaction_attributes", "braze_customer_attributes")}


def stage_of(step_key: str) -> str:
    if step_key.startswith("raw_"):
        return "sources"
    if step_key.startswith(("unified_", "identity")):
        return "identity"
    if step_key.startswith("currents"):
        return "currents"
    if step_key.startswith(("campaign_", "audience")):
        return "audiences"
    if step_key.startswith("attribute_snapshots"):
        return "snapshots"
    if step_key.startswith("braze_sync"):
        return "sync"
    return "customer_360"


def env_for(data_dir: Path, sandbox: SandboxServer) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("BRAZE_", "CURRENTS_", "AWS_", "DAGSTER_HOME"))
    }
    env.update(
        BRAZE_ASSETS_DATA_DIR=str(data_dir),
        DAGSTER_HOME=str(data_dir / "dagster_home"),
        BRAZE_API_KEY=KEY,
        BRAZE_REST_ENDPOINT=sandbox.url,
    )
    return env


def demo(env: dict[str, str], **kwargs) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-u", "-m", "braze_assets.cli", "demo"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
        **kwargs,
    )


def finish(process: subprocess.Popen, timeout: float) -> tuple[int, str]:
    try:
        out, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        out, _ = process.communicate()
        return -999, out
    return process.returncode, out


class Case:
    """One data dir with its own sandbox and Dagster instance."""

    def __init__(self, template: Path, where: Path, rate: int | None):
        self.where = where
        self.data = where / "data"
        shutil.copytree(template, self.data)
        with (self.data / "braze_workspace_users.csv").open(newline="", encoding="utf-8") as f:
            users = [row["external_id"] for row in csv.DictReader(f)]
        self.sandbox = SandboxServer(
            where / "braze_state",
            api_keys={KEY: set(ALL_PERMISSIONS)},
            rate_limit_requests=rate,
            rate_limit_period_s=1.0,
        ).start()
        self.sandbox.seed_users(users)
        self.env = env_for(self.data, self.sandbox)
        home = self.data / "dagster_home"
        home.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(ROOT / "dagster.yaml", home / "dagster.yaml")
        import dagster as dg

        # Created here, before the demo, so the watcher and the demo never race to create storage.
        self.instance = dg.DagsterInstance.from_config(str(home))

    def close(self) -> None:
        self.instance.dispose()
        self.sandbox.stop()

    def holder(self) -> str | None:
        info = self.instance.event_log_storage.get_concurrency_info(POOL)
        return next((c.step_key for c in info.claimed_slots), None)

    def accepted_batches(self) -> int:
        return sum(
            1
            for r in self.sandbox.request_log()
            if r["path"] == "/users/track" and r["status"] == 201 and r["objects"]
        )

    def run_clean(self, timeout: float) -> tuple[int, str]:
        return finish(demo(self.env), timeout)

    def run_killed(self, stage: str, rng: random.Random, max_delay: float, timeout: float):
        """Run the demo, kill it in `stage`; returns a description of where the kill fell."""
        process = demo(self.env)
        output: list[str] = []
        reader = threading.Thread(target=lambda: output.extend(process.stdout), daemon=True)
        reader.start()
        deadline = time.monotonic() + timeout
        if stage == "sync":
            target_batches = rng.randint(1, 12)
            condition = lambda: self.accepted_batches() >= target_batches  # noqa: E731
            delay = 0.0
            plan = f"after {target_batches} accepted batches"
        else:

            def condition() -> bool:
                held = self.holder()
                if held is None:
                    return False
                if stage in TRIGGERS:
                    return held.startswith(TRIGGERS[stage])
                return stage_of(held) == stage

            delay = rng.uniform(0, max_delay)
            plan = f"{delay:.2f} s after a {stage} step took the slot"
        fired = False
        while process.poll() is None and time.monotonic() < deadline:
            if condition():
                fired = True
                break
            time.sleep(0.01)
        if fired:
            time.sleep(delay)
        at = self.holder()
        batches = self.accepted_batches()
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        reader.join(timeout=10)
        return {
            "plan": plan,
            "fired": fired,
            "killed_while": at or "no step held the slot",
            "stage_at_kill": stage_of(at) if at else "between steps",
            "batches_before_kill": batches,
            "finished_before_kill": process.returncode == 0,
            "last_line": next((line.strip() for line in reversed(output) if line.strip()), ""),
        }

    def state(self) -> dict:
        self.sandbox.workspace.flush()
        con = duckdb.connect(str(self.data / "warehouse.duckdb"), read_only=True)
        tables = {}
        try:
            names = dict(
                con.execute(
                    "SELECT customer_id, 'customer:' || min(record_id) FROM customer_id_assignments "
                    "GROUP BY customer_id"
                ).fetchall()
            )
            # A customer retired by a merge holds no records any more: it is named by the one it
            # was merged into (ids are minted per run, so the raw ids of two runs differ).
            for retired, into in con.execute(
                "SELECT customer_id, merged_into FROM customer_id_registry "
                "WHERE status = 'retired' AND merged_into IS NOT NULL"
            ).fetchall():
                names.setdefault(retired, f"retired into {names.get(into, into)}")

            def canonical(text: str) -> str:
                return UUID.sub(lambda m: names.get(m.group(0), m.group(0)), text)

            campaign_attributes = sorted(
                {
                    r[0]
                    for r in con.execute(
                        "SELECT DISTINCT attribute FROM campaign_member_attributes "
                        "UNION SELECT DISTINCT membership_attribute FROM audience_members"
                    ).fetchall()
                    if r[0]
                }
            )
            skip = ", ".join(f"'{a}'" for a in campaign_attributes) or "''"
            present = {
                r[0]
                for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()
            }
            for table, volatile in {**TABLES, **LOG_TABLES}.items():
                if table not in present:
                    tables[table] = None
                    continue
                columns = [r[0] for r in con.execute(f'DESCRIBE "{table}"').fetchall()]
                keep = ", ".join(f'"{c}"' for c in columns if c not in volatile)
                distinct = "DISTINCT " if table in LOG_TABLES else ""
                where = f"WHERE attribute NOT IN ({skip})" if table in ATTRIBUTE_TABLES else ""
                rows = con.execute(f'SELECT {distinct}{keep} FROM "{table}" {where}').fetchall()
                tables[table] = sorted(canonical(repr(row)) for row in rows)
            problems = consistency(con, self.sandbox.profiles())
        finally:
            con.close()

        def comparable(profile: dict) -> str:
            kept = {k: v for k, v in profile.items() if k not in PROFILE_VOLATILE}
            kept["custom_attributes"] = {
                k: v
                for k, v in profile.get("custom_attributes", {}).items()
                if k not in campaign_attributes
            }
            return canonical(json.dumps(kept, sort_keys=True))

        profiles = {
            p.get("external_id") or p["braze_id"]: comparable(p) for p in self.sandbox.profiles()
        }
        return {
            "tables": tables,
            "profiles": profiles,
            "received": self.sandbox.received_by_user(),
            "consistency": problems,
        }


def _profile_value(profile: dict, attribute: str):
    if attribute in profile.get("custom_attributes", {}):
        return profile["custom_attributes"][attribute]
    return profile.get(attribute)


def consistency(con, sandbox_profiles: list[dict]) -> list[str]:
    """Within one data dir: every value of the latest snapshot is confirmed unless Braze rejected
    it, nothing else is confirmed (but a value of a `nulls: skip` attribute the snapshot no longer
    holds, which Braze keeps, e.g. one a profile merge brought to the kept profile), and the
    sandbox holds every confirmed value."""
    from braze_assets.config import load_config
    from braze_assets.settings import DEMO_CONFIG_DIR

    kept_by_braze = {
        m.name
        for d in load_config(DEMO_CONFIG_DIR).destinations
        for m in d.attributes
        if m.nulls == "skip"
    }
    columns = "identifier, attribute, element, kind, value_json"
    intended = set(
        con.execute(
            f"SELECT {columns} FROM attribute_snapshots "
            "WHERE snapshot_date = (SELECT max(snapshot_date) FROM attribute_snapshots)"
        ).fetchall()
    )
    confirmed = set(con.execute(f"SELECT {columns} FROM braze_confirmed_state").fetchall())
    rejected = set(
        con.execute("SELECT identifier, attribute, element FROM braze_sync_rejections").fetchall()
    )
    problems = []
    twice = con.execute(
        "SELECT count(*) FROM (SELECT run_id, campaign, customer_id FROM campaign_recipients "
        "GROUP BY ALL HAVING count(*) > 1)"
    ).fetchone()[0]
    if twice:
        problems.append(f"{twice} recipients recorded twice by one run")
    intended_keys = {row[:3] for row in intended}
    extra = {
        row
        for row in confirmed - intended
        if row[:3] in intended_keys or row[1] not in kept_by_braze
    }
    if extra:
        problems.append(f"{len(extra)} confirmed values not intended: {sorted(extra)[:3]}")
    lost = {row[:3] for row in intended - confirmed} - rejected
    if lost:
        problems.append(
            f"{len(lost)} intended values neither confirmed nor rejected: {sorted(lost)[:3]}"
        )
    profiles = {p.get("external_id"): p for p in sandbox_profiles}
    wrong = []
    for identifier, attribute, element, kind, value_json in confirmed:
        held = _profile_value(profiles.get(identifier, {}), attribute)
        value = json.loads(value_json)
        if kind in ("value", "membership_bool") and held != value:
            wrong.append((identifier, attribute))
        elif kind == "membership_array" and value not in (held or []):
            wrong.append((identifier, attribute, element))
    if wrong:
        problems.append(f"{len(wrong)} confirmed values not in the sandbox: {wrong[:3]}")
    return problems


def _table_diff(rows, other) -> str | None:
    from collections import Counter

    if rows is None or other is None:
        return None if rows == other else "missing table"
    a, b = Counter(rows), Counter(other)
    missing, extra = sum((a - b).values()), sum((b - a).values())
    if not (missing or extra):
        return None
    example = next(iter((a - b) or (b - a)))
    return f"{missing} rows missing, {extra} extra (e.g. {example[:200]})"


def compare(cleans: list[dict], got: dict) -> dict:
    """Differences from the nearest clean state (after one clean run, or after a clean run and a
    rerun: a case is a killed run plus a rerun, and history tables grow with each run)."""
    diffs = {}
    for table in cleans[0]["tables"]:
        found = [_table_diff(clean["tables"][table], got["tables"].get(table)) for clean in cleans]
        if all(found):
            diffs[table] = found[-1]
    wrong = []
    for clean in cleans:
        users = set(clean["profiles"]) | set(got["profiles"])
        wrong.append(sorted(u for u in users if clean["profiles"].get(u) != got["profiles"].get(u)))
    if all(wrong):
        diffs["sandbox profiles"] = f"{len(wrong[-1])} differ (e.g. {wrong[-1][:3]})"
    if got.get("consistency"):
        diffs["consistency"] = "; ".join(got["consistency"])
    received = got["received"]
    never = [u for u in cleans[0]["received"] if received.get(u, 0) == 0]
    if never:
        diffs["sandbox received"] = f"{len(never)} users never received (e.g. {never[:3]})"
    resent = sum(
        max(0, count - max(clean["received"].get(u, 0) for clean in cleans))
        for u, count in received.items()
    )
    return {"diffs": diffs, "resent_values": resent}


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cases", type=int, default=len(STAGES))
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--people", type=int, default=1500)
    parser.add_argument(
        "--rate", type=int, default=None, help="sandbox requests/s (default: no limit)"
    )
    parser.add_argument("--max-delay", type=float, default=3.0)
    parser.add_argument("--timeout", type=float, default=600)
    parser.add_argument("--stages", default=",".join(STAGES))
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--keep", action="store_true", help="keep every case's data dir")
    parser.add_argument("--json", type=Path, default=None, help="write the results here")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    stages = args.stages.split(",")
    work = args.workdir or Path(tempfile.mkdtemp(prefix="kill_matrix_"))
    work.mkdir(parents=True, exist_ok=True)
    print(f"work dir {work}", flush=True)

    template = work / "template"
    if not (template / "braze_workspace_users.csv").exists():
        env = {k: v for k, v in os.environ.items() if not k.startswith(("BRAZE_", "DAGSTER_HOME"))}
        env["BRAZE_ASSETS_DATA_DIR"] = str(template)
        subprocess.run(
            [sys.executable, "-m", "braze_assets.cli", "generate", "--people", str(args.people)],
            cwd=ROOT,
            env=env,
            check=True,
            capture_output=True,
        )

    # The clean run's state is kept in the work dir, so more cases can be added to it later.
    clean_file = work / f"clean_state_rate{args.rate}.json"
    if clean_file.exists():
        cleans = json.loads(clean_file.read_text())
    else:
        shutil.rmtree(work / "clean", ignore_errors=True)
        clean_case = Case(template, work / "clean", args.rate)
        try:
            code, out = clean_case.run_clean(args.timeout)
            if code != 0:
                print(out)
                raise SystemExit(f"the clean run failed ({code})")
            cleans = [clean_case.state()]
            code, out = clean_case.run_clean(args.timeout)
            if code != 0:
                print(out)
                raise SystemExit(f"the clean rerun failed ({code})")
            cleans.append(clean_case.state())
        finally:
            clean_case.close()
        clean_file.write_text(json.dumps(cleans))
    for clean in cleans:
        if clean.get("consistency"):
            raise SystemExit(f"the clean run is not consistent: {clean['consistency']}")
    again = compare(cleans[:1], cleans[1])
    print(f"a clean rerun changes: {again['diffs'] or 'nothing'}", flush=True)
    print(f"clean run: {sum(cleans[0]['received'].values())} objects sent", flush=True)

    results = []
    for number in range(args.cases):
        stage = stages[number % len(stages)]
        where = work / f"case{args.seed}_{number:03d}"
        shutil.rmtree(where, ignore_errors=True)
        case = Case(template, where, args.rate)
        try:
            kill = case.run_killed(stage, rng, args.max_delay, args.timeout)
            started = time.monotonic()
            code, out = case.run_clean(args.timeout)
            result = {
                "case": number,
                "stage": stage,
                **kill,
                "rerun_exit": code,
                "rerun_s": round(time.monotonic() - started, 1),
            }
            if code == 0:
                result.update(compare(cleans, case.state()))
            else:
                result["diffs"] = {"rerun": out[-2000:]}
                result["resent_values"] = None
        finally:
            case.close()
        if not args.keep and code == 0 and not result["diffs"]:
            shutil.rmtree(case.where, ignore_errors=True)
        result["recovered"] = code == 0 and not result["diffs"]
        over = result["resent_values"] is not None and result["resent_values"] > IN_FLIGHT * BATCH
        result["resent_beyond_in_flight"] = over
        results.append(result)
        print(json.dumps(result), flush=True)

    recovered = sum(r["recovered"] for r in results)
    resent = [r["resent_values"] for r in results if r["resent_values"] is not None]
    print(
        f"\n{len(results)} cases, {recovered} recovered, values resent: total {sum(resent)}, "
        f"max {max(resent, default=0)} (bound {IN_FLIGHT} batches = {IN_FLIGHT * BATCH})"
    )
    by_stage: dict[str, list] = {}
    for r in results:
        by_stage.setdefault(r["stage_at_kill"], []).append(r["recovered"])
    for stage, oks in sorted(by_stage.items()):
        print(f"  killed in {stage}: {len(oks)} cases, {sum(oks)} recovered")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return (
        0
        if recovered == len(results) and not any(r["resent_beyond_in_flight"] for r in results)
        else 1
    )


if __name__ == "__main__":
    raise SystemExit(main())
