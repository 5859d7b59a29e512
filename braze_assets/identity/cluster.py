"""Cluster scored pairs into customers and give each customer a stable UUID.

Clustering is connected components over pairs at or above the match threshold, strongest pairs
first, refusing any union that would put two different values of a separation key (e.g. two
external ids) into one customer. Components larger than `max_cluster_size` are flagged and held
back: their records stay separate customers until someone looks.

Id stability: `customer_id_assignments` remembers which id every record had. A new cluster keeps
an id when it holds most of that id's records; if it holds several such ids (a merge) the oldest
survives and the others are retired into it; a part split off without a majority gets a new id.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import datetime

import duckdb
import numpy as np
import pyarrow as pa

from braze_assets import tables
from braze_assets.identity.config import IdentityConfig
from braze_assets.identity.match import TABLE as SCORES
from braze_assets.identity.match import match_threshold
from braze_assets.identity.standardise import TABLE as STANDARDISED
from braze_assets.warehouse import quote, table_columns, table_exists, transaction

TABLE = tables.UNIFIED_COALESCED
REGISTRY = "customer_id_registry"
ASSIGNMENTS = "customer_id_assignments"
_NAMESPACE = uuid.UUID("5b1c3d2e-8f4a-4e6b-9c0d-2a7f1e3b5c9d")
_NAMESPACE_BYTES = _NAMESPACE.bytes


def customer_uuid(name: str) -> str:
    """`str(uuid.uuid5(_NAMESPACE, name))`, three times faster: a first run names half a million
    customers, and uuid.UUID's object and validation are most of uuid5's cost."""
    digest = bytearray(hashlib.sha1(_NAMESPACE_BYTES + name.encode()).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50  # version 5
    digest[8] = (digest[8] & 0x3F) | 0x80  # RFC 4122 variant
    text = digest.hex()
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


@dataclass
class ClusterReport:
    records: int
    customers: int
    created: int
    merged: int
    split: int
    unchanged: int
    changed: int
    removed: int
    held_back_clusters: int
    held_back_records: int
    separation_refusals: int
    largest_cluster: int

    @property
    def churn(self) -> int:
        return self.merged + self.split + self.removed


def _union_pairs(
    size: int,
    left: list[int],
    right: list[int],
    keys: dict[int, tuple],
    apart: list[tuple[int, int]] = (),
) -> tuple[np.ndarray, int]:
    """Greedy union-find over the pairs in order. A union is refused when the two sides hold
    different values of a separation key; `keys` holds the records that have any (most have none,
    so they cost nothing). `apart` lists record pairs that must not end up in one cluster (two
    members of a household the scores held apart): a union that would join them is refused too,
    so a third record that matches both (a shared family email) cannot chain them. Returns each
    record's root, the smallest index of its cluster, and the number of refused unions."""
    parent = list(range(size))
    refused = 0
    # root -> records that must stay out of its cluster (few: only held-apart pairs).
    avoid: dict[int, set[int]] = {}
    for x, y in apart:
        avoid.setdefault(x, set()).add(y)
        avoid.setdefault(y, set()).add(x)

    def find(x: int) -> int:
        while parent[x] != x:
            x = parent[x]
        return x

    for a, b in zip(left, right):
        ra = a
        while parent[ra] != ra:
            ra = parent[ra]
        while parent[a] != ra:
            parent[a], a = ra, parent[a]
        rb = b
        while parent[rb] != rb:
            rb = parent[rb]
        while parent[b] != rb:
            parent[b], b = rb, parent[b]
        if ra == rb:
            continue
        if ra > rb:
            ra, rb = rb, ra
        if avoid:
            va, vb = avoid.get(ra), avoid.get(rb)
            if (va and any(find(x) == rb for x in va)) or (vb and any(find(x) == ra for x in vb)):
                refused += 1
                continue
        ka, kb = keys.get(ra), keys.get(rb)
        if ka is not None and kb is not None:
            if any(x is not None and y is not None and x != y for x, y in zip(ka, kb)):
                refused += 1
                continue
            keys[ra] = tuple(x if x is not None else y for x, y in zip(ka, kb))
        elif kb is not None:
            keys[ra] = kb
        if avoid and rb in avoid:
            avoid.setdefault(ra, set()).update(avoid.pop(rb))
        parent[rb] = ra
    roots = np.asarray(parent, dtype=np.int64)
    while True:  # pointer jumping: every record straight to its root
        jumped = roots[roots]
        if np.array_equal(jumped, roots):
            return roots, refused
        roots = jumped


def _joined_key_values(
    con: duckdb.DuckDBPyConnection, separation: list[str]
) -> dict[tuple[int, object], object]:
    """Separation-key values one person holds (two accounts the scores join directly, see
    `separation_override`): (key position, value) -> the smallest value of its group, so the
    union-find treats the group as one value and still refuses any other."""
    if "separation_override" not in table_columns(con, SCORES):
        return {}
    select = ", ".join(f"a.{quote(k)}, b.{quote(k)}" for k in separation)
    rows = con.execute(
        f"""SELECT {select} FROM {SCORES} p
        JOIN {STANDARDISED} a ON a.record_id = p.record_id_l JOIN {STANDARDISED} b ON b.record_id = p.record_id_r
        WHERE p.separation_override ORDER BY p.record_id_l, p.record_id_r"""
    ).fetchall()
    parent: dict[tuple[int, object], tuple[int, object]] = {}

    def find(x):
        parent.setdefault(x, x)
        while parent[x] != x:
            x = parent[x]
        return x

    for row in rows:
        for i in range(len(separation)):
            a, b = row[2 * i], row[2 * i + 1]
            if a is not None and b is not None and a != b:
                ra, rb = sorted((find((i, a)), find((i, b))), key=lambda t: t[1])
                parent[rb] = ra
    return {x: find(x)[1] for x in parent}


def _components(
    con: duckdb.DuckDBPyConnection, identity: IdentityConfig
) -> tuple[pa.Array, np.ndarray, np.ndarray, int, int]:
    columns = table_columns(con, STANDARDISED)
    separation = [k for k in identity.separation_keys if k in columns]
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE _identity_index AS "
        f"SELECT record_id, (row_number() OVER (ORDER BY record_id) - 1)::BIGINT AS idx FROM {STANDARDISED}"
    )
    record_ids = con.execute("SELECT record_id FROM _identity_index ORDER BY idx").to_arrow_table()[
        "record_id"
    ]
    keys: dict[int, tuple] = {}
    threshold = match_threshold(con, identity)
    if separation:
        key_select = ", ".join(f"s.{quote(k)}" for k in separation)
        rows = con.execute(
            f"SELECT i.idx, {key_select} FROM {STANDARDISED} s JOIN _identity_index i USING (record_id) "
            f"WHERE {' OR '.join(f's.{quote(k)} IS NOT NULL' for k in separation)}"
        ).fetchall()
        joined = _joined_key_values(con, separation)
        keys = {row[0]: tuple(joined.get((i, v), v) for i, v in enumerate(row[1:])) for row in rows}
    edges = con.execute(
        f"""SELECT l.idx AS l, r.idx AS r FROM {SCORES} p
        JOIN _identity_index l ON l.record_id = p.record_id_l JOIN _identity_index r ON r.record_id = p.record_id_r
        WHERE p.match_probability >= ?
        ORDER BY p.match_probability DESC, p.match_weight DESC NULLS FIRST, p.record_id_l, p.record_id_r""",
        [threshold],
    ).fetchnumpy()
    apart: list[tuple[int, int]] = []
    if "held_apart" in table_columns(con, SCORES):
        # Pairs the model alone would link but whose filled person-level fields all name
        # different people (the household rule in match.py held them below the threshold).
        apart = con.execute(
            f"""SELECT l.idx, r.idx FROM {SCORES} p
            JOIN _identity_index l ON l.record_id = p.record_id_l JOIN _identity_index r ON r.record_id = p.record_id_r
            WHERE p.held_apart"""
        ).fetchall()
    con.execute("DROP TABLE _identity_index")
    roots, refused = _union_pairs(
        len(record_ids), edges["l"].tolist(), edges["r"].tolist(), keys, apart
    )
    sizes = np.bincount(roots, minlength=len(roots))
    held = sizes[roots] > identity.max_cluster_size
    # A held-back record is its own cluster, keyed by its own index.
    clusters = np.where(held, np.arange(len(roots)), roots)
    oversized = int(np.count_nonzero(sizes > identity.max_cluster_size))
    return record_ids, clusters, held, refused, oversized


def _ensure_tables(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(
        f"CREATE TABLE IF NOT EXISTS {REGISTRY} (customer_id VARCHAR PRIMARY KEY, status VARCHAR, "
        "created_at TIMESTAMP, created_run_id VARCHAR, retired_at TIMESTAMP, retired_run_id VARCHAR, "
        "merged_into VARCHAR, record_count BIGINT, updated_at TIMESTAMP, updated_run_id VARCHAR)"
    )
    con.execute(
        f"CREATE TABLE IF NOT EXISTS {ASSIGNMENTS} (record_id VARCHAR PRIMARY KEY, customer_id VARCHAR, "
        "assigned_at TIMESTAMP, run_id VARCHAR)"
    )


def _assign_ids(con: duckdb.DuckDBPyConnection, run_id: str) -> dict[str, int]:
    """From _identity_clusters(record_id, cluster) build _identity_ids(cluster, customer_id, kind).

    A cluster label is the index of its smallest record id, so ties between equal halves of a
    split always go the same way.
    """
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _identity_votes AS
        SELECT a.customer_id, c.cluster, count(*) AS n
        FROM _identity_clusters c JOIN {ASSIGNMENTS} a USING (record_id) GROUP BY ALL
    """)
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _identity_owned AS
        SELECT v.customer_id, v.cluster, r.created_at
        FROM _identity_votes v LEFT JOIN {REGISTRY} r USING (customer_id)
        QUALIFY row_number() OVER (PARTITION BY v.customer_id ORDER BY v.n DESC, v.cluster) = 1
    """)
    con.execute("""
        CREATE OR REPLACE TEMP TABLE _identity_kept AS
        SELECT cluster, customer_id FROM _identity_owned
        QUALIFY row_number() OVER (PARTITION BY cluster ORDER BY created_at NULLS LAST, customer_id) = 1
    """)
    new_clusters = con.execute("""
        SELECT c.cluster, min(c.record_id) AS anchor, bool_or(v.cluster IS NOT NULL) AS had_prior
        FROM _identity_clusters c
        LEFT JOIN (SELECT DISTINCT cluster FROM _identity_votes) v USING (cluster)
        ANTI JOIN _identity_kept k ON k.cluster = c.cluster
        GROUP BY c.cluster
    """).fetchall()
    con.register(
        "_identity_new_ids",
        pa.table(
            {
                "cluster": pa.array([r[0] for r in new_clusters], pa.int64()),
                "customer_id": [customer_uuid(f"{run_id}:{r[1]}") for r in new_clusters],
                "kind": ["split" if r[2] else "created" for r in new_clusters],
            }
        ),
    )
    con.execute("""
        CREATE OR REPLACE TEMP TABLE _identity_ids AS
        SELECT cluster, customer_id, 'kept' AS kind FROM _identity_kept
        UNION ALL SELECT cluster, customer_id, kind FROM _identity_new_ids
    """)
    con.unregister("_identity_new_ids")
    # Unchanged: a kept id whose record set is exactly what it had before.
    unchanged = con.execute(f"""
        WITH now_ AS (SELECT c.record_id, i.customer_id FROM _identity_clusters c JOIN _identity_ids i USING (cluster) WHERE i.kind = 'kept'),
        diff AS (
            SELECT coalesce(n.customer_id, p.customer_id) AS customer_id,
                   bool_or(n.customer_id IS DISTINCT FROM p.customer_id) AS changed
            FROM now_ n FULL OUTER JOIN {ASSIGNMENTS} p ON n.record_id = p.record_id AND n.customer_id = p.customer_id
            SEMI JOIN _identity_kept k ON k.customer_id = coalesce(n.customer_id, p.customer_id)
            GROUP BY 1
        )
        SELECT count_if(NOT changed), count_if(changed) FROM diff
    """).fetchone()
    kinds = dict(con.execute("SELECT kind, count(*) FROM _identity_ids GROUP BY ALL").fetchall())
    merged = con.execute(
        "SELECT count(*) FROM _identity_owned o ANTI JOIN _identity_kept k ON k.customer_id = o.customer_id"
    ).fetchone()[0]
    removed = con.execute(
        f"SELECT count(*) FROM {REGISTRY} r ANTI JOIN _identity_owned o ON o.customer_id = r.customer_id WHERE r.status = 'active'"
    ).fetchone()[0]
    return {
        "created": kinds.get("created", 0),
        "split": kinds.get("split", 0),
        "merged": merged,
        "removed": removed,
        "unchanged": unchanged[0] or 0,
        "changed": unchanged[1] or 0,
    }


def _write_registry(con: duckdb.DuckDBPyConnection, run_id: str, now: datetime) -> None:
    params = {"now": now, "run": run_id}
    con.execute(
        f"""
        UPDATE {REGISTRY} SET status = 'retired', retired_at = $now, retired_run_id = $run, merged_into = k.customer_id,
               updated_at = $now, updated_run_id = $run
        FROM _identity_owned o JOIN _identity_kept k ON k.cluster = o.cluster
        WHERE {REGISTRY}.customer_id = o.customer_id AND o.customer_id <> k.customer_id
    """,
        params,
    )
    con.execute(
        f"""
        UPDATE {REGISTRY} SET status = 'retired', retired_at = $now, retired_run_id = $run, merged_into = NULL,
               record_count = 0, updated_at = $now, updated_run_id = $run
        WHERE status = 'active' AND NOT EXISTS (SELECT 1 FROM _identity_owned o WHERE o.customer_id = {REGISTRY}.customer_id)
    """,
        params,
    )
    con.execute(
        f"""
        INSERT INTO {REGISTRY} SELECT customer_id, 'active', $now, $run, NULL, NULL, NULL, 0, $now, $run
        FROM _identity_ids WHERE kind <> 'kept'
    """,
        params,
    )
    con.execute(
        f"""
        UPDATE {REGISTRY} SET record_count = s.n, updated_at = $now, updated_run_id = $run
        FROM (SELECT i.customer_id, count(*) AS n FROM _identity_clusters c JOIN _identity_ids i USING (cluster) GROUP BY 1) s
        WHERE {REGISTRY}.customer_id = s.customer_id AND {REGISTRY}.record_count IS DISTINCT FROM s.n
    """,
        params,
    )


def cluster_and_assign_ids(
    con: duckdb.DuckDBPyConnection, identity: IdentityConfig, *, run_id: str, now: datetime
) -> ClusterReport:
    for table in (STANDARDISED, SCORES):
        if not table_exists(con, table):
            raise ValueError(f"{table} is missing; run the earlier identity stages first")
    record_ids, clusters, held, refused, oversized = _components(con, identity)
    sizes = np.bincount(clusters, minlength=len(clusters))
    con.register(
        "_identity_cluster_arrow",
        pa.table(
            {
                "record_id": record_ids,
                "cluster": pa.array(clusters, pa.int64()),
                "held_back": pa.array(held),
            }
        ),
    )
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _identity_clusters AS SELECT * FROM _identity_cluster_arrow"
    )
    con.unregister("_identity_cluster_arrow")
    _ensure_tables(con)
    try:
        with transaction(con):
            churn = _assign_ids(con, run_id)
            _write_registry(con, run_id, now)
            con.execute(
                f"""
                CREATE OR REPLACE TABLE {ASSIGNMENTS} AS
                SELECT c.record_id, i.customer_id,
                       CASE WHEN a.customer_id = i.customer_id THEN a.assigned_at ELSE $now END AS assigned_at,
                       CASE WHEN a.customer_id = i.customer_id THEN a.run_id ELSE $run END AS run_id
                FROM _identity_clusters c JOIN _identity_ids i USING (cluster)
                LEFT JOIN {ASSIGNMENTS} a ON a.record_id = c.record_id
            """,
                {"now": now, "run": run_id},
            )
            con.execute(f"""
                CREATE OR REPLACE TABLE {TABLE} AS
                SELECT i.customer_id, s.*, count(*) OVER (PARTITION BY c.cluster) AS cluster_size,
                       c.held_back, a.assigned_at AS customer_id_assigned_at
                FROM {STANDARDISED} s
                JOIN _identity_clusters c USING (record_id)
                JOIN _identity_ids i USING (cluster)
                JOIN {ASSIGNMENTS} a USING (record_id)
                ORDER BY i.customer_id, s.record_id
            """)
    finally:
        for name in (
            "_identity_votes",
            "_identity_owned",
            "_identity_kept",
            "_identity_ids",
            "_identity_clusters",
        ):
            con.execute(f"DROP TABLE IF EXISTS {name}")
    return ClusterReport(
        records=len(record_ids),
        customers=int(np.count_nonzero(sizes)),
        held_back_records=int(held.sum()),
        held_back_clusters=oversized,
        separation_refusals=refused,
        largest_cluster=int(sizes.max(initial=0)),
        **churn,
    )
