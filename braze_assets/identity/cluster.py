"""Cluster scored pairs into customers and give each customer a stable UUID.

Clustering is connected components over pairs at or above the match threshold, strongest pairs
first, refusing any union that would put two different values of a separation key (e.g. two
external ids) into one customer. Components larger than `max_cluster_size` are flagged and held
back: their records stay separate customers until someone looks.

Id stability: `customer_id_assignments` remembers which id every record had. A new cluster keeps
an id when it holds most of that id's records; if it holds several such ids (a merge) the oldest
survives and the others are retired into it; a part split off without a majority gets a new id.

Written once against the Engine interface (braze_assets/engine). Connected components come from
the engine (union-find on DuckDB, minimum-label propagation in Spark SQL); only the components
holding a separation-key conflict or a held-apart pair come to the driver, where the greedy
union above settles them, so Spark never collects the whole graph. Greedy union refuses a link
only inside such a component, so the result is the one greedy union over all pairs would give.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import pyarrow as pa

from braze_assets import tables
from braze_assets.engine.base import Engine
from braze_assets.engine.duckdb_engine import as_engine
from braze_assets.identity.config import IdentityConfig
from braze_assets.identity.match import TABLE as SCORES
from braze_assets.identity.match import match_threshold
from braze_assets.identity.standardise import TABLE as STANDARDISED
from braze_assets.warehouse import quote, quote_literal

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
    strong: list[bool] | None = None,
) -> tuple[np.ndarray, int]:
    """Greedy union-find over the pairs in order. A union is refused when the two sides hold
    different values of a separation key; `keys` holds the records that have any (most have none,
    so they cost nothing). `apart` lists record pairs that must not end up in one cluster (two
    members of a household the scores held apart): a union that would join them is refused too,
    so a third record that matches both (a shared family email) cannot chain them. A pair marked
    in `strong` (it links beyond the names: person-level evidence, and more than two strangers
    share) is not refused for a held-apart pair: that one rests on two given names alone, and a
    typed `tmmy` beside `thomas` is also what one person's records look like; the separation
    keys still hold. Returns each
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

    for a, b, sure in zip(left, right, strong or [False] * len(left)):
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
        if avoid and not sure:
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


def _joined_key_values(con: Engine, separation: list[str]) -> dict[tuple[int, object], object]:
    """Separation-key values one person holds (see `separation_override`): (key position, value)
    -> the smallest value of its group, so the union-find treats the group as one value and
    still refuses any other.

    Values are joined within a component of the pairs that link without the names
    (`links_beyond_names`: person-level evidence, and the weight beyond the names reaches the
    threshold). Two accounts joined that way are one person whether their own pair is such a pair
    or each is linked so to a third record of that person (a loyalty card matching both by phone
    and birthdate). A chain through any weaker link (a shared family email) joins nothing.
    Components are the engine's, and only those holding two values of a key come to the driver."""
    columns = con.columns(SCORES)
    strong = (
        "p.links_beyond_names"
        if "links_beyond_names" in columns
        else "p.separation_override"
        if "separation_override" in columns
        else None
    )
    if strong is None:
        return {}
    con.create_temp(
        "_identity_strong_edges",
        "SELECT l.idx AS l, r.idx AS r FROM "
        f"{SCORES} p JOIN _identity_index l ON l.record_id = p.record_id_l "
        f"JOIN _identity_index r ON r.record_id = p.record_id_r WHERE {strong}",
    )
    # Only records with such a pair: every other record is a component of its own.
    con.components(
        "_identity_strong",
        "SELECT l AS node FROM _identity_strong_edges UNION SELECT r FROM _identity_strong_edges",
        "SELECT l, r FROM _identity_strong_edges",
    )
    keyed = ", ".join(f"s.{quote(k)}" for k in separation)
    several = " OR ".join(f"count(DISTINCT s.{quote(k)}) > 1" for k in separation)
    base = (
        f"FROM {STANDARDISED} s JOIN _identity_index i USING (record_id) "
        "JOIN _identity_strong c ON c.node = i.idx"
    )
    rows = con.fetch(
        f"SELECT c.component, {keyed} {base} WHERE c.component IN "
        f"(SELECT c.component {base} GROUP BY c.component HAVING {several}) "
        "ORDER BY c.component"
    )
    con.drop_temp("_identity_strong")
    con.drop_temp("_identity_strong_edges")
    # Union-find over (key position, value): a loyalty id held by records of two components
    # joins their groups too.
    parent: dict[tuple[int, object], tuple[int, object]] = {}

    def find(x):
        parent.setdefault(x, x)
        while parent[x] != x:
            x = parent[x]
        return x

    first: dict[tuple[object, int], tuple[int, object]] = {}
    for row in rows:
        for i, v in enumerate(row[1:]):
            if v is None:
                continue
            anchor = first.setdefault((row[0], i), (i, v))
            ra, rb = sorted((find(anchor), find((i, v))), key=lambda t: t[1])
            parent[rb] = ra
    return {x: find(x)[1] for x in parent}


_EDGE_ORDER = "ORDER BY p.match_probability DESC, p.match_weight DESC NULLS FIRST, p.record_id_l, p.record_id_r"


def _components(con: Engine, identity: IdentityConfig) -> dict:
    """Build _identity_clusters(record_id, cluster, held_back); cluster is the index (in record
    id order) of the cluster's smallest record. Returns the refused unions and oversized count."""
    columns = con.columns(STANDARDISED)
    separation = [k for k in identity.separation_keys if k in columns]
    threshold = match_threshold(con, identity)
    con.create_indexed("_identity_index", f"SELECT record_id FROM {STANDARDISED}", "record_id")
    pairs = (
        f"FROM {SCORES} p JOIN _identity_index l ON l.record_id = p.record_id_l "
        "JOIN _identity_index r ON r.record_id = p.record_id_r"
    )
    strong = (
        "coalesce(p.links_beyond_names, false)"
        if "links_beyond_names" in con.columns(SCORES)
        else "false"
    )
    con.create_temp(
        "_identity_edges",
        f"SELECT l.idx AS l, r.idx AS r, p.match_probability, p.match_weight, p.record_id_l, "
        f"p.record_id_r, {strong} AS strong {pairs} "
        f"WHERE p.match_probability >= {float(threshold)!r}",
    )
    con.components(
        "_identity_components",
        "SELECT idx AS node FROM _identity_index",
        "SELECT l, r FROM _identity_edges",
    )
    # Pairs the model alone would link but whose filled person-level fields all name different
    # people (the household rule in match.py held them below the threshold).
    apart_sql = (
        f"SELECT l.idx AS l, r.idx AS r {pairs} WHERE p.held_apart"
        if "held_apart" in con.columns(SCORES)
        else "SELECT 0::BIGINT AS l, 0::BIGINT AS r WHERE false"
    )
    con.create_temp("_identity_apart", apart_sql)
    # Components where greedy union may refuse a link: two values of a separation key (counted
    # before the values one person holds are joined: a few more components than needed, the
    # same result), or a held-apart pair, inside one component. Only these come to the driver.
    conflicts = [
        "SELECT cl.component FROM _identity_apart a "
        "JOIN _identity_components cl ON cl.node = a.l "
        "JOIN _identity_components cr ON cr.node = a.r WHERE cl.component = cr.component"
    ]
    if separation:
        distinct = " OR ".join(f"count(DISTINCT s.{quote(k)}) > 1" for k in separation)
        conflicts.append(
            f"SELECT c.component FROM {STANDARDISED} s JOIN _identity_index i USING (record_id) "
            f"JOIN _identity_components c ON c.node = i.idx GROUP BY c.component HAVING {distinct}"
        )
    con.create_temp(
        "_identity_conflicted",
        f"SELECT DISTINCT component FROM ({' UNION ALL '.join(conflicts)})",
    )
    members = con.fetch(
        "SELECT c.node FROM _identity_components c "
        "JOIN _identity_conflicted k ON k.component = c.component ORDER BY c.node"
    )
    refused = 0
    nodes = np.asarray([row[0] for row in members], dtype=np.int64)
    local = {int(n): i for i, n in enumerate(nodes)}  # in node order, so roots stay smallest
    roots = nodes
    if len(nodes):
        in_conflict = (
            "JOIN _identity_components c ON c.node = e.l "
            "JOIN _identity_conflicted k ON k.component = c.component"
        )
        edges = con.fetch(
            f"SELECT e.l, e.r, e.strong FROM _identity_edges e {in_conflict} "
            + _EDGE_ORDER.replace("p.", "e.")
        )
        keys: dict[int, tuple] = {}
        if separation:
            key_select = ", ".join(f"s.{quote(k)}" for k in separation)
            rows = con.fetch(
                f"SELECT c.node, {key_select} FROM {STANDARDISED} s "
                "JOIN _identity_index i USING (record_id) "
                "JOIN _identity_components c ON c.node = i.idx "
                "JOIN _identity_conflicted k ON k.component = c.component "
                f"WHERE {' OR '.join(f's.{quote(k)} IS NOT NULL' for k in separation)}"
            )
            joined = _joined_key_values(con, separation)
            keys = {
                local[row[0]]: tuple(joined.get((i, v), v) for i, v in enumerate(row[1:]))
                for row in rows
            }
        # Both ends in one conflicted component: a held-apart pair whose other end lies in
        # another component is never offered for union, so it constrains nothing.
        apart = con.fetch(
            f"SELECT e.l, e.r FROM _identity_apart e {in_conflict} "
            "JOIN _identity_components cr ON cr.node = e.r AND cr.component = c.component"
        )
        found, refused = _union_pairs(
            len(nodes),
            [local[e[0]] for e in edges],
            [local[e[1]] for e in edges],
            keys,
            [(local[a], local[b]) for a, b in apart],
            [bool(e[2]) for e in edges],
        )
        roots = nodes[found]
    con.register(
        "_identity_settled",
        pa.table({"node": pa.array(nodes, pa.int64()), "root": pa.array(roots, pa.int64())}),
    )
    con.create_temp(
        "_identity_roots",
        "SELECT i.record_id, i.idx, coalesce(s.root, c.component) AS root "
        "FROM _identity_index i JOIN _identity_components c ON c.node = i.idx "
        "LEFT JOIN _identity_settled s ON s.node = i.idx",
    )
    con.unregister("_identity_settled")
    limit = int(identity.max_cluster_size)
    # A held-back record (its cluster is over max_cluster_size) is its own cluster, keyed by its
    # own index.
    con.create_temp(
        "_identity_clusters",
        f"SELECT record_id, CASE WHEN size > {limit} THEN idx ELSE root END AS cluster, "
        f"size > {limit} AS held_back FROM (SELECT record_id, idx, root, "
        "count(*) OVER (PARTITION BY root) AS size FROM _identity_roots)",
    )
    oversized = con.fetch(
        f"SELECT count(*) FROM (SELECT root FROM _identity_roots GROUP BY root "
        f"HAVING count(*) > {limit})"
    )[0][0]
    for name in (
        "_identity_index",
        "_identity_edges",
        "_identity_components",
        "_identity_apart",
        "_identity_conflicted",
        "_identity_roots",
    ):
        con.drop_temp(name)
    return {"separation_refusals": int(refused), "held_back_clusters": int(oversized)}


_REGISTRY_SCHEMA = pa.schema(
    [
        ("customer_id", pa.string()),
        ("status", pa.string()),
        ("created_at", pa.timestamp("us")),
        ("created_run_id", pa.string()),
        ("retired_at", pa.timestamp("us")),
        ("retired_run_id", pa.string()),
        ("merged_into", pa.string()),
        ("record_count", pa.int64()),
        ("updated_at", pa.timestamp("us")),
        ("updated_run_id", pa.string()),
    ]
)
_ASSIGNMENTS_SCHEMA = pa.schema(
    [
        ("record_id", pa.string()),
        ("customer_id", pa.string()),
        ("assigned_at", pa.timestamp("us")),
        ("run_id", pa.string()),
    ]
)


def _ensure_tables(con: Engine) -> None:
    for name, schema in ((REGISTRY, _REGISTRY_SCHEMA), (ASSIGNMENTS, _ASSIGNMENTS_SCHEMA)):
        if not con.table_exists(name):
            con.write_arrow(name, schema.empty_table())


def _timestamp(now: datetime) -> str:
    """`now` as a SQL TIMESTAMP literal, naive UTC as every timestamp in the tables."""
    if now.tzinfo is not None:
        now = now.astimezone(UTC).replace(tzinfo=None)
    return f"CAST('{now.isoformat(sep=' ')}' AS TIMESTAMP)"


def _assign_ids(con: Engine, run_id: str) -> dict[str, int]:
    """From _identity_clusters(record_id, cluster) build _identity_ids(cluster, customer_id, kind).

    A cluster label is the index of its smallest record id, so ties between equal halves of a
    split always go the same way.
    """
    con.create_temp(
        "_identity_votes",
        f"SELECT a.customer_id, c.cluster, count(*) AS n "
        f"FROM _identity_clusters c JOIN {ASSIGNMENTS} a USING (record_id) GROUP BY ALL",
    )
    con.create_temp(
        "_identity_owned",
        f"""SELECT v.customer_id, v.cluster, r.created_at
        FROM _identity_votes v LEFT JOIN {REGISTRY} r USING (customer_id)
        QUALIFY row_number() OVER (PARTITION BY v.customer_id ORDER BY v.n DESC, v.cluster) = 1""",
    )
    con.create_temp(
        "_identity_kept",
        """SELECT cluster, customer_id FROM _identity_owned
        QUALIFY row_number() OVER (PARTITION BY cluster ORDER BY created_at NULLS LAST, customer_id) = 1""",
    )

    def name_new(cluster: int, anchor: str, had_prior: bool) -> tuple:
        # Named by the run and the cluster's smallest record, computed where the rows are
        # (on Spark's executors), so a first run never brings every customer to the driver.
        return customer_uuid(f"{run_id}:{anchor}"), "split" if had_prior else "created"

    con.map_distinct(
        "_identity_new_ids",
        """SELECT c.cluster, min(c.record_id) AS anchor, bool_or(v.cluster IS NOT NULL) AS had_prior
        FROM _identity_clusters c
        LEFT JOIN (SELECT DISTINCT cluster FROM _identity_votes) v USING (cluster)
        ANTI JOIN _identity_kept k ON k.cluster = c.cluster
        GROUP BY c.cluster""",
        ["cluster", "anchor", "had_prior"],
        name_new,
        ["customer_id", "kind"],
        {"cluster": pa.int64(), "had_prior": pa.bool_()},
    )
    con.create_temp(
        "_identity_ids",
        """SELECT cluster, customer_id, 'kept' AS kind FROM _identity_kept
        UNION ALL SELECT cluster, customer_id, kind FROM _identity_new_ids""",
    )
    con.unregister("_identity_new_ids")
    # Unchanged: a kept id whose record set is exactly what it had before.
    unchanged = con.fetch(f"""
        WITH now_ AS (SELECT c.record_id, i.customer_id FROM _identity_clusters c JOIN _identity_ids i USING (cluster) WHERE i.kind = 'kept'),
        diff AS (
            SELECT coalesce(n.customer_id, p.customer_id) AS customer_id,
                   bool_or(n.customer_id IS DISTINCT FROM p.customer_id) AS changed
            FROM now_ n FULL OUTER JOIN {ASSIGNMENTS} p ON n.record_id = p.record_id AND n.customer_id = p.customer_id
            SEMI JOIN _identity_kept k ON k.customer_id = coalesce(n.customer_id, p.customer_id)
            GROUP BY 1
        )
        SELECT count_if(NOT changed), count_if(changed) FROM diff
    """)[0]
    kinds = dict(con.fetch("SELECT kind, count(*) FROM _identity_ids GROUP BY ALL"))
    merged = con.fetch(
        "SELECT count(*) FROM _identity_owned o ANTI JOIN _identity_kept k ON k.customer_id = o.customer_id"
    )[0][0]
    removed = con.fetch(
        f"SELECT count(*) FROM {REGISTRY} r ANTI JOIN _identity_owned o ON o.customer_id = r.customer_id WHERE r.status = 'active'"
    )[0][0]
    return {
        "created": kinds.get("created", 0),
        "split": kinds.get("split", 0),
        "merged": merged,
        "removed": removed,
        "unchanged": unchanged[0] or 0,
        "changed": unchanged[1] or 0,
    }


def _write_registry(con: Engine, run_id: str, now: datetime) -> None:
    """The registry rewritten whole (Parquet has no UPDATE): ids merged into a kept id and active
    ids that own no records are retired, new ids are added, record counts follow the clusters."""
    at, run = _timestamp(now), quote_literal(run_id)
    con.create_temp(
        "_identity_registry",
        f"""
        WITH merged AS (
            SELECT o.customer_id, k.customer_id AS merged_into FROM _identity_owned o
            JOIN _identity_kept k ON k.cluster = o.cluster WHERE o.customer_id <> k.customer_id
        ),
        marked AS (
            SELECT r.*, m.merged_into AS into_, m.customer_id IS NOT NULL AS was_merged,
                   m.customer_id IS NULL AND r.status = 'active' AND o.customer_id IS NULL AS was_removed
            FROM {REGISTRY} r LEFT JOIN merged m USING (customer_id)
            LEFT JOIN (SELECT DISTINCT customer_id FROM _identity_owned) o USING (customer_id)
        ),
        kept AS (
            SELECT customer_id,
                   CASE WHEN was_merged OR was_removed THEN 'retired' ELSE status END AS status,
                   created_at, created_run_id,
                   CASE WHEN was_merged OR was_removed THEN {at} ELSE retired_at END AS retired_at,
                   CASE WHEN was_merged OR was_removed THEN {run} ELSE retired_run_id END AS retired_run_id,
                   CASE WHEN was_merged THEN into_ WHEN was_removed THEN NULL ELSE merged_into END AS merged_into,
                   CASE WHEN was_removed THEN 0 ELSE record_count END AS record_count,
                   CASE WHEN was_merged OR was_removed THEN {at} ELSE updated_at END AS updated_at,
                   CASE WHEN was_merged OR was_removed THEN {run} ELSE updated_run_id END AS updated_run_id
            FROM marked
            UNION ALL
            SELECT customer_id, 'active', {at}, {run}, NULL, NULL, NULL, 0, {at}, {run}
            FROM _identity_ids WHERE kind <> 'kept'
        ),
        counts AS (
            SELECT i.customer_id, count(*) AS n FROM _identity_clusters c
            JOIN _identity_ids i USING (cluster) GROUP BY 1
        )
        SELECT k.customer_id, k.status, k.created_at, k.created_run_id, k.retired_at,
               k.retired_run_id, k.merged_into,
               CASE WHEN c.n IS NOT NULL AND k.record_count IS DISTINCT FROM c.n THEN c.n ELSE k.record_count END AS record_count,
               CASE WHEN c.n IS NOT NULL AND k.record_count IS DISTINCT FROM c.n THEN {at} ELSE k.updated_at END AS updated_at,
               CASE WHEN c.n IS NOT NULL AND k.record_count IS DISTINCT FROM c.n THEN {run} ELSE k.updated_run_id END AS updated_run_id
        FROM kept k LEFT JOIN counts c USING (customer_id)
        """,
    )


def cluster_and_assign_ids(
    con, identity: IdentityConfig, *, run_id: str, now: datetime
) -> ClusterReport:
    """Cluster unified_scores and write the ids on an Engine (a DuckDB connection is wrapped)."""
    con = as_engine(con)
    for table in (STANDARDISED, SCORES):
        if not con.table_exists(table):
            raise ValueError(f"{table} is missing; run the earlier identity stages first")
    flags = _components(con, identity)
    records, customers, held, largest = con.fetch(
        "SELECT count(*), count(DISTINCT cluster), count_if(held_back), coalesce(max(n), 0) "
        "FROM (SELECT cluster, held_back, count(*) OVER (PARTITION BY cluster) AS n "
        "FROM _identity_clusters)"
    )[0]
    _ensure_tables(con)
    at, run = _timestamp(now), quote_literal(run_id)
    try:
        churn = _assign_ids(con, run_id)
        _write_registry(con, run_id, now)
        con.create_temp(
            "_identity_assignments",
            f"""
            SELECT c.record_id, i.customer_id,
                   CASE WHEN a.customer_id = i.customer_id THEN a.assigned_at ELSE {at} END AS assigned_at,
                   CASE WHEN a.customer_id = i.customer_id THEN a.run_id ELSE {run} END AS run_id
            FROM _identity_clusters c JOIN _identity_ids i USING (cluster)
            LEFT JOIN {ASSIGNMENTS} a ON a.record_id = c.record_id
            """,
        )
        with con.atomic():
            con.write_table(REGISTRY, "SELECT * FROM _identity_registry")
            con.write_table(ASSIGNMENTS, "SELECT * FROM _identity_assignments")
            # Cluster sizes from a GROUP BY joined on, not a window over the wide rows: the same
            # values, ~2 of this write's ~13 CPU-s cheaper at 1M records (benchmarks/README.md).
            con.write_table(
                TABLE,
                f"""
                SELECT i.customer_id, s.*, z.cluster_size,
                       c.held_back, a.assigned_at AS customer_id_assigned_at
                FROM {STANDARDISED} s
                JOIN _identity_clusters c USING (record_id)
                JOIN _identity_ids i USING (cluster)
                JOIN (SELECT cluster, count(*) AS cluster_size FROM _identity_clusters GROUP BY cluster) z
                    USING (cluster)
                JOIN {ASSIGNMENTS} a USING (record_id)
                ORDER BY i.customer_id, s.record_id
                """,
            )
    finally:
        for name in (
            "_identity_votes",
            "_identity_owned",
            "_identity_kept",
            "_identity_ids",
            "_identity_clusters",
            "_identity_registry",
            "_identity_assignments",
        ):
            con.drop_temp(name)
    return ClusterReport(
        records=int(records),
        customers=int(customers),
        held_back_records=int(held),
        largest_cluster=int(largest),
        **flags,
        **churn,
    )
