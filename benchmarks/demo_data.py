"""Time and memory to generate the demo data, and how hard its identity problem is.

    .venv/bin/python benchmarks/demo_data.py [--size N] [--out DIR] [--no-eval] [--transactions]

Generation runs in a child process so its peak memory is measured on its own. The evaluation then
scores three matchers against `demo_truth/person_truth.csv` with pairwise precision / recall / F1:
a naive one (records with the exact same email string are one person), the same after normalising
emails (case, whitespace, +tags, junk values dropped), and a small rule-based
reference matcher (normalised email, phone, loyalty id, name + address, name + birthdate, with
nickname-aware first names). The second shows the signal to reach F1 >= 0.98 is in the data; the
first two show exact email matching is not enough.

`--transactions` also loads the orders and store transactions into a DuckDB file and times
`build_transaction_attributes`, with the ground truth standing in for identity resolution.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import polars as pl
from nicknames import NickNamer

from braze_assets.config import load_config
from braze_assets.customer_360.transactions import build_transaction_attributes
from braze_assets.demo_data.records import read_records
from braze_assets.sources.load import load_table, resolve_path

JUNK_EMAILS = ["test@test.com", "none@none.com", "noemail@noemail.com", "na@na.com", "x@x.com"]
JUNK_PHONES = ["0000000000", "9999999999", "1234567890"]


def generate(out: Path, size: int) -> dict:
    code = (
        "import json, resource, sys, time\n"
        "from pathlib import Path\n"
        "from braze_assets.demo_data import generate_demo_data\n"
        "t = time.perf_counter()\n"
        f"s = generate_demo_data(Path({str(out)!r}), people={size}, overwrite=True)\n"
        "print(json.dumps({'seconds': time.perf_counter() - t, 'rows': s.rows,\n"
        "                  'peak_rss_mb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def _records(data: Path) -> pl.DataFrame:
    """All customer records in one normalised frame: source, source_pk and match fields."""
    rec = read_records(
        data,
        [
            "source_pk",
            "given",
            "surname",
            "email",
            "phone",
            "line",
            "postal_code",
            "dob",
            "loyalty",
        ],
    ).rename({"postal_code": "zip"})
    # The POS's one full_name is "Given Surname" or "Surname, Given", with middle initials.
    full = pl.col("given")
    comma = full.str.contains(",")
    parts = full.str.replace_all(r"\b[A-Z]\. ", "").str.split(" ")
    pos = pl.col("source") == "pos"
    rec = rec.with_columns(
        given=pl.when(pos & comma)
        .then(full.str.split(", ").list.last())
        .when(pos)
        .then(parts.list.first())
        .otherwise(full),
        surname=pl.when(pos & comma)
        .then(full.str.split(", ").list.first())
        .when(pos)
        .then(parts.list.last())
        .otherwise(pl.col("surname")),
    ).with_row_index("rid")
    email = pl.col("email").str.strip_chars().str.to_lowercase().str.replace(r"\+[^@]*@", "@")
    phone = pl.col("phone").str.replace_all(r"\D", "")
    phone = pl.when(phone.str.len_chars() == 11).then(phone.str.strip_prefix("1")).otherwise(phone)
    return rec.with_columns(
        raw_email=pl.col("email"),
        email=pl.when(email.str.contains("@") & ~email.is_in(JUNK_EMAILS)).then(email),
        phone=pl.when((phone.str.len_chars() >= 10) & ~phone.is_in(JUNK_PHONES)).then(phone),
        given=pl.col("given").str.to_lowercase().str.strip_chars(),
        surname=pl.col("surname").str.to_lowercase().str.strip_chars(),
        zip=pl.col("zip").str.slice(0, 5).str.zfill(5),
        house=pl.col("line").str.extract(r"^(\d+)"),
    ).with_columns(
        given=pl.when(~pl.col("given").is_in(["unknown", "n/a", "customer", "test", "cash"])).then(
            pl.col("given")
        ),
    )


def _name_keys(rec: pl.DataFrame) -> pl.DataFrame:
    """rid -> every key its first name answers to (itself and its nickname canonicals)."""
    namer = NickNamer()
    names = rec["given"].drop_nulls().unique().to_list()
    table = pl.DataFrame(
        {"given": names, "key": [sorted({n, *namer.canonicals_of(n)}) for n in names]},
        schema={"given": pl.String, "key": pl.List(pl.String)},
    ).explode("key")
    return rec.select("rid", "given").join(table, on="given").select("rid", "key")


def _pairs(
    rec: pl.DataFrame, on: list[str], keys: pl.DataFrame | None, *, nameless: bool = False
) -> pl.DataFrame:
    """Record pairs agreeing on `on` (and on a first-name key); `nameless`: one side has no first name."""
    left = rec.select("rid", "given", *on).drop_nulls(on)
    if keys is not None:
        left = left.join(keys, on="rid")
        on = [*on, "key"]
    pairs = left.join(left, on=on, suffix="_b").filter(pl.col("rid") < pl.col("rid_b"))
    if nameless:
        pairs = pairs.filter(pl.col("given").is_null() | pl.col("given_b").is_null())
    return pairs.select(pl.col("rid").alias("a"), pl.col("rid_b").alias("b"))


def _components(n: int, edges: pl.DataFrame) -> pl.Series:
    """Connected components by repeated min-label propagation (fine for sparse record graphs)."""
    ids = pl.arange(0, n, eager=True).cast(pl.UInt32)
    label = pl.DataFrame({"rid": ids, "label": ids})
    both = pl.concat([edges, edges.select(pl.col("b").alias("a"), pl.col("a").alias("b"))]).unique()
    while True:
        spread = (
            both.join(label, left_on="b", right_on="rid")
            .group_by("a")
            .agg(pl.col("label").min().alias("m"))
        )
        new = label.join(spread, left_on="rid", right_on="a", how="left").select(
            "rid", pl.min_horizontal("label", pl.col("m").fill_null(pl.col("label"))).alias("label")
        )
        # Pointer jumping: take the label of your label, which halves the remaining path length.
        new = (
            new.join(new.rename({"rid": "label", "label": "label2"}), on="label", how="left")
            .select("rid", pl.min_horizontal("label", "label2").alias("label"))
            .sort("rid")
        )
        if new["label"].equals(label["label"]):
            return new["label"]
        label = new


def pairwise(truth: pl.Series, predicted: pl.Series) -> dict[str, float]:
    frame = pl.DataFrame({"t": truth, "p": predicted})
    pairs = lambda counts: int((counts * (counts - 1) // 2).sum())  # noqa: E731
    tp = pairs(frame.group_by("t", "p").len()["len"])
    pred = pairs(frame.group_by("p").len()["len"])
    true = pairs(frame.group_by("t").len()["len"])
    precision, recall = tp / pred if pred else 1.0, tp / true if true else 1.0
    return {
        "precision": precision,
        "recall": recall,
        "f1": 2 * precision * recall / (precision + recall),
    }


def evaluate(data: Path) -> dict[str, dict[str, float]]:
    rec = _records(data)
    truth = pl.read_csv(data / "demo_truth" / "person_truth.csv", infer_schema=False)
    person = rec.join(truth, on=["source", "source_pk"], how="left").sort("rid")["person_id"]
    n = rec.height
    naive = _components(n, _pairs(rec.with_columns(email=pl.col("raw_email")), ["email"], None))
    keys = _name_keys(rec)
    loose = rec.select("rid", key=pl.col("given").str.slice(0, 2))
    edges = pl.concat(
        [
            _pairs(rec, ["email"], keys),
            _pairs(rec, ["email"], loose),
            _pairs(rec, ["email"], None, nameless=True),
            _pairs(rec, ["loyalty"], None),
            _pairs(rec, ["phone", "surname"], None),
            _pairs(rec, ["phone"], keys),
            _pairs(rec, ["phone"], loose),
            _pairs(rec, ["surname", "zip", "house"], keys),
            _pairs(rec, ["surname", "dob"], keys),
        ]
    ).unique()
    cleaned = _components(n, _pairs(rec, ["email"], None))
    return {
        "naive exact email": pairwise(person, naive),
        "exact email after normalising (case, +tag, junk)": pairwise(person, cleaned),
        "rule-based reference": pairwise(person, _components(n, edges)),
    }


def transactions(data: Path) -> dict[str, float]:
    config = load_config()
    path = data / "bench_transactions.duckdb"
    path.unlink(missing_ok=True)
    con = duckdb.connect(str(path))
    t = time.perf_counter()
    for txn in config.transactions:
        load_table(
            con,
            source=txn.name,
            table=f"raw_txn_{txn.name}",
            path=resolve_path(txn.path, data),
            required_columns=[txn.primary_key],
            primary_key=txn.primary_key,
        )
    truth = str(data / "demo_truth" / "person_truth.csv").replace("'", "''")
    con.execute(
        "CREATE OR REPLACE TABLE unified_coalesced AS SELECT person_id AS customer_id, source, source_pk "
        f"FROM read_csv('{truth}', all_varchar = true)"
    )
    loaded = time.perf_counter() - t
    cpu = resource.getrusage(resource.RUSAGE_SELF)
    t = time.perf_counter()
    report = build_transaction_attributes(con, config, datetime.now(UTC))
    built = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_SELF)
    con.close()
    path.unlink()
    return {
        "load_s": loaded,
        "build_s": built,
        "build_cpu_s": after.ru_utime + after.ru_stime - cpu.ru_utime - cpu.ru_stime,
        "rows": sum(report.rows_read.values()),
        "customers": report.customers,
        "excluded": sum(report.rows_read.values()) - sum(report.rows_used.values()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", type=int, default=20_000, help="people to generate")
    parser.add_argument("--out", type=Path, help="output dir (default: a temporary one)")
    parser.add_argument("--no-eval", action="store_true", help="skip the matcher evaluation")
    parser.add_argument(
        "--transactions", action="store_true", help="also time build_transaction_attributes"
    )
    args = parser.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="demo_data_"))
    result = generate(out, args.size)
    txn_files = ("sources/orders.csv", "sources/store_transactions.csv")
    records = sum(
        v for k, v in result["rows"].items() if k.startswith("sources/") and k not in txn_files
    )
    print("| people | source records | transactions | seconds | peak RSS MB |")
    print("| --- | --- | --- | --- | --- |")
    txns = result["rows"]["sources/orders.csv"] + result["rows"]["sources/store_transactions.csv"]
    print(
        f"| {args.size:,} | {records:,} | {txns:,} | {result['seconds']:.1f} | {result['peak_rss_mb']:.0f} |"
    )
    print(f"output: {out}")
    if args.transactions:
        r = transactions(out)
        print(
            "\n| transactions | customers | rows excluded | load s | build s (wall) | build s (CPU) |"
        )
        print("| --- | --- | --- | --- | --- | --- |")
        print(
            f"| {r['rows']:,} | {r['customers']:,} | {r['excluded']:,} | {r['load_s']:.1f} | {r['build_s']:.1f} "
            f"| {r['build_cpu_s']:.1f} |"
        )
    if args.no_eval:
        return
    t = time.perf_counter()
    scores = evaluate(out)
    print("\n| matcher | precision | recall | F1 |\n| --- | --- | --- | --- |")
    for name, s in scores.items():
        print(f"| {name} | {s['precision']:.4f} | {s['recall']:.4f} | {s['f1']:.4f} |")
    print(
        f"(evaluation {time.perf_counter() - t:.1f} s, peak RSS of this process "
        f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB)"
    )


if __name__ == "__main__":
    main()
