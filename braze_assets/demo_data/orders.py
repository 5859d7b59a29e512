"""Orders and store transactions: many one-and-done buyers, a long tail of loyal ones.

Each customer record gets a count from a zero-inflated negative binomial, an active window inside
the last three years (some customers lapse), and order times spread over that window. A small share
of rows carries the junk a real export has (unparseable revenue or dates, unknown customer keys) so
the transaction attributes have something to report.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import polars as pl

from braze_assets.demo_data.sources import THREE_YEARS, epoch_end, fmt_ts

JUNK_REVENUE = ("N/A", "error", "--", "12.34.56")
JUNK_DATES = ("0000-00-00 00:00:00", "not recorded", "31/02/2024", "TBD")
JUNK_RATE = 0.0005
ORPHAN_RATE = 0.0005
STORES = 150


def _counts(n: int, rng: np.random.Generator, *, zero: float, r: float, p: float) -> np.ndarray:
    buyers = rng.random(n) >= zero
    return np.where(buyers, 1 + rng.negative_binomial(r, p, n), 0).clip(0, 250)


def _times(
    owner_start: np.ndarray, counts: np.ndarray, rng: np.random.Generator, as_of: date
) -> tuple[np.ndarray, np.ndarray]:
    """Expand per-customer counts into one timestamp per transaction within the customer's window."""
    end = epoch_end(as_of)
    n = len(counts)
    start = np.maximum(owner_start, end - THREE_YEARS)
    # 40% of customers lapse: their last order falls somewhere before as_of.
    stop = np.where(
        rng.random(n) < 0.4, start + (rng.random(n) * (end - start)).astype(np.int64), end
    )
    owner = np.repeat(np.arange(n), counts)
    span = (stop - start)[owner]
    at = start[owner] + (rng.random(len(owner)) * span).astype(np.int64)
    return owner, np.minimum(at, end - 1)


def _money(
    rng: np.random.Generator, scale: np.ndarray, median: float
) -> tuple[pl.Series, pl.Series]:
    revenue = np.round(rng.lognormal(np.log(median), 0.7, len(scale)) * scale, 2).clip(0.5, 5000)
    items = 1 + rng.poisson(revenue / 45.0).clip(0, 30)
    return pl.Series(revenue).round(2).cast(pl.Decimal(18, 2)).cast(pl.String), pl.Series(
        items
    ).cast(pl.String)


def _damage(
    frame: pl.DataFrame,
    rng: np.random.Generator,
    key: str,
    revenue: str,
    when: str,
    key_prefix: str,
) -> pl.DataFrame:
    n = frame.height
    pick = lambda values: pl.Series(np.asarray(values)[rng.integers(0, len(values), n)])  # noqa: E731
    orphan_keys = key_prefix + pl.Series(rng.integers(90_000_000, 99_999_999, n)).cast(pl.String)
    return frame.with_columns(
        pl.when(pl.Series(rng.random(n) < JUNK_RATE))
        .then(pick(JUNK_REVENUE))
        .otherwise(pl.col(revenue))
        .alias(revenue),
        pl.when(pl.Series(rng.random(n) < JUNK_RATE))
        .then(pick(JUNK_DATES))
        .otherwise(pl.col(when))
        .alias(when),
        pl.when(pl.Series(rng.random(n) < ORPHAN_RATE))
        .then(orphan_keys)
        .otherwise(pl.col(key))
        .alias(key),
    )


def orders(accounts: pl.DataFrame, rng: np.random.Generator, as_of: date) -> pl.DataFrame:
    counts = _counts(accounts.height, rng, zero=0.22, r=0.6, p=0.22)
    counts = np.where(accounts["_dup"].to_numpy(), np.minimum(counts, 1), counts)
    owner, at = _times(accounts["_created"].to_numpy(), counts, rng, as_of)
    order = np.argsort(at, kind="stable")
    owner, at = owner[order], at[order]
    revenue, items = _money(rng, accounts["_spend"].to_numpy()[owner], 65.0)
    app = rng.random(len(owner)) < accounts["_app_share"].to_numpy()[owner]
    frame = pl.DataFrame(
        {
            "order_id": "ORD"
            + pl.Series(np.arange(1, len(owner) + 1)).cast(pl.String).str.zfill(9),
            "account_id": accounts["account_id"].gather(owner),
            "ordered_at": fmt_ts(pl.Series(at), "%Y-%m-%dT%H:%M:%SZ"),
            "channel": pl.Series(np.where(app, "app", "web")),
            "revenue": revenue,
            "items": items,
        }
    )
    return _damage(frame, rng, "account_id", "revenue", "ordered_at", "A")


def store_transactions(
    customers: pl.DataFrame, rng: np.random.Generator, as_of: date
) -> pl.DataFrame:
    counts = _counts(customers.height, rng, zero=0.15, r=0.5, p=0.15)
    never = np.zeros(customers.height, dtype=np.int64)
    owner, at = _times(never, counts, rng, as_of)
    order = np.argsort(at, kind="stable")
    owner, at = owner[order], at[order]
    revenue, items = _money(rng, customers["_spend"].to_numpy()[owner], 42.0)
    # Customers shop mostly at one home store; about one visit in five is elsewhere.
    home = rng.integers(1, STORES + 1, customers.height)
    store = np.where(
        rng.random(len(owner)) < 0.8, home[owner], rng.integers(1, STORES + 1, len(owner))
    )
    frame = pl.DataFrame(
        {
            "transaction_id": "T"
            + pl.Series(np.arange(1, len(owner) + 1)).cast(pl.String).str.zfill(10),
            "pos_customer_id": customers["pos_customer_id"].gather(owner),
            "store_id": "ST" + pl.Series(store).cast(pl.String).str.zfill(3),
            "transacted_at": fmt_ts(pl.Series(at)),
            "revenue": revenue,
            "items": items,
        }
    )
    return _damage(frame, rng, "pos_customer_id", "revenue", "transacted_at", "PC")
