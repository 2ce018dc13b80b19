"""Bounded full re-cluster: themes found on a window, every other item assigned to one.

UMAP and HDBSCAN over every vector of a large warehouse need memory and time that grow faster
than the items (issue #17). Above ``ClusterConfig.window_size`` unique texts, a full re-cluster

1. picks the window (``window_texts``): the texts seen in the last ``window_recent_days`` (up
   to ``window_recent_share`` of the window, newest first), then a sample of the older texts
   stratified by source and month (each stratum in proportion to its size, a fixed hash order
   inside it, so the same warehouse gives the same window night after night);
2. clusters the window as a small warehouse is clustered (corpus.py, identity.py), with one
   difference (``window_config``): UMAP's neighbourhood is a share of the window
   (``window_umap_fraction``), not a fixed 15. A window samples a warehouse that repeats its
   requests, several rewordings of each; 15 neighbours then span only a few requests and the
   reduced space breaks into clumps of rewordings that HDBSCAN leaves as noise or cuts
   apart (measured in BENCHMARKS.md's scale section: HDBSCAN noise 16% -> 45%);
3. streams every other item out of DuckDB in Arrow record batches (``assign_rest``): each joins
   the theme most of its ``window_neighbours`` nearest window texts are in (an HNSW index over the
   window, hnswlib; noise votes too, so the window's noise rate carries over), a person's earlier
   theme wins unless the new one is ``stickiness`` closer, and it joins only when it clears the
   member floor against the theme's centroid. Only the window, one batch and per-theme sums are
   in memory.

Members move the centroids they are checked against. The floor is kept exactly: after a pass,
each theme's centroid (window and assigned members) is compared with the centroid its members
were checked against; a unit vector's cosine to the new centroid is at least its cosine to the
old one minus the distance between the two (Cauchy-Schwarz), so when every theme's weakest
assigned member minus that drift still clears the floor, all do. Otherwise the pass is repeated
with the new centroid added to the ones every member must clear (members only ever leave, so
this ends). Window members are checked directly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import duckdb
import numpy as np
import pyarrow as pa

from feedback_pipeline.cluster.config import ClusterConfig
from feedback_pipeline.cluster.languages import language_groups
from feedback_pipeline.cluster.model import NOISE
from feedback_pipeline.warehouse.db import vectors_matched

if TYPE_CHECKING:
    from feedback_pipeline.cluster.corpus import Clustering

EXACT_MAX = 5_000  # window texts of a language group below which exact search is as fast


@dataclass
class Window:
    """What a windowed clustering left out: enough to stream it back in."""

    model_id: str
    until: datetime
    hashes: pa.Array  # the window's text hashes
    config: ClusterConfig
    split_languages: bool = True
    stats: dict = field(default_factory=dict)


def count_texts(con: duckdb.DuckDBPyConnection, model_id: str, until: datetime) -> int:
    return con.execute(
        "SELECT count(DISTINCT i.text_hash) FROM items i JOIN embeddings e ON e.text_hash = "
        "i.text_hash AND e.model = ? WHERE i.drop_reason IS NULL AND i.created_at <= ?",
        [model_id, until]).fetchone()[0]


def window_texts(con: duckdb.DuckDBPyConnection, model_id: str, config: ClusterConfig,
                 until: datetime) -> list[str] | None:
    """The window's text hashes, or None when every text fits (no window needed)."""
    size = config.window_size
    if not size or count_texts(con, model_id, until) <= size:
        return None
    recent_cap = int(round(size * config.window_recent_share))
    params = {"model": model_id, "until": until,
              "since": until - timedelta(days=config.window_recent_days)}
    texts = """
        SELECT i.text_hash, max(i.created_at) AS last_at, min(i.source) AS source
        FROM items i JOIN embeddings e ON e.text_hash = i.text_hash AND e.model = $model
        WHERE i.drop_reason IS NULL AND i.created_at <= $until GROUP BY i.text_hash"""
    recent = [r[0] for r in con.execute(
        f"SELECT text_hash FROM ({texts}) WHERE last_at >= $since "
        f"ORDER BY last_at DESC, text_hash LIMIT {recent_cap}", params).fetchall()]
    older_cap = size - len(recent)
    older = [r[0] for r in con.execute(
        f"""
        WITH t AS ({texts}), o AS (
            SELECT text_hash, hash(text_hash) AS h,
                   row_number() OVER (PARTITION BY source, date_trunc('month', last_at)
                                      ORDER BY hash(text_hash), text_hash) AS rn,
                   count(*) OVER (PARTITION BY source, date_trunc('month', last_at)) AS n
            FROM t WHERE text_hash NOT IN (SELECT unnest($recent::VARCHAR[])))
        SELECT text_hash FROM o
        WHERE rn <= ceil(n * $older_cap / (SELECT count(*) FROM o))
        ORDER BY h, text_hash LIMIT {older_cap}
        """, {"model": model_id, "until": until, "recent": recent,
              "older_cap": older_cap}).fetchall()]
    return recent + older


def window_config(config: ClusterConfig, texts: int) -> ClusterConfig:
    """The settings a window of ``texts`` texts is clustered with: UMAP's neighbours grow with
    the window as its minimum theme size does (never below ``umap_neighbors``)."""
    k = max(config.umap_neighbors, int(round(config.window_umap_fraction * texts)))
    return config.model_copy(update={"umap_neighbors": k})


# The items outside the window, without their vectors: narrow enough to hold for a whole pass.
REST_SQL = """
    CREATE OR REPLACE TEMP TABLE {rest} AS
    SELECT i.text_hash, i.source, i.external_id, i.language, t.theme_id AS previous
    FROM items i LEFT JOIN item_themes t ON t.source = i.source AND t.external_id = i.external_id
    WHERE i.drop_reason IS NULL AND i.created_at <= $until AND i.text_hash IS NOT NULL
      AND i.text_hash NOT IN (SELECT text_hash FROM window_hashes)
"""


class _Neighbours:
    """The window texts of one language group, searchable for an item's nearest ones."""

    def __init__(self, X: np.ndarray, labels: np.ndarray, k: int, seed: int) -> None:
        self.labels, self.k = labels, min(k, len(X))
        self.X = X
        self.index = None
        if len(X) > EXACT_MAX:
            import hnswlib

            self.index = hnswlib.Index(space="ip", dim=X.shape[1])
            self.index.init_index(max_elements=len(X), ef_construction=100, M=16,
                                  random_seed=seed)
            # One thread: a multi-threaded build depends on timing, and the same window must
            # give the same assignments on a rerun.
            self.index.add_items(X, np.arange(len(X)), num_threads=1)
            self.index.set_ef(max(50, 2 * self.k))

    def votes(self, Q: np.ndarray) -> np.ndarray:
        """The most common label among each row's k nearest window texts (nearest on ties)."""
        if self.index is not None:
            idx, _ = self.index.knn_query(Q, k=self.k)
        else:
            S = Q @ self.X.T
            part = np.argpartition(-S, self.k - 1, axis=1)[:, :self.k]
            idx = np.take_along_axis(part, np.argsort(-np.take_along_axis(S, part, axis=1),
                                                      axis=1), axis=1)
        votes = self.labels[idx.astype(np.int64)]
        support = (votes[:, :, None] == votes[:, None, :]).sum(axis=2)
        return votes[np.arange(len(Q)), support.argmax(axis=1)]


@dataclass
class Assigned:
    """One pass over the items outside the window."""

    sums: np.ndarray  # per label row: sum of assigned members' vectors
    counts: np.ndarray
    min_sim: np.ndarray  # per label row: weakest member's cosine to the last checked centroid
    bound: np.ndarray | None = None  # per label row: a lower bound against the final centroid
    items: int = 0
    noise: int = 0
    kept_previous: int = 0


def assign_rest(con: duckdb.DuckDBPyConnection, window: Window, X: np.ndarray,
                item_rows: np.ndarray, labels: np.ndarray, groups: np.ndarray, *,
                label_of_theme: dict[int, int], floor: float, stickiness: float,
                stage: str = "window_assigned") -> tuple[np.ndarray, list[int], Assigned]:
    """Assign every item outside the window (see the module docstring).

    ``X``/``labels``/``groups``: the window's texts, their cluster labels and language groups;
    ``item_rows``: window item -> text row (items sharing a text weigh it). ``label_of_theme``:
    a stored theme id -> the label that keeps it (for stickiness). Writes (source, external_id,
    text_hash, label, similarity) of every outside item into the temporary table ``stage`` and
    returns the window labels (members that fell below the floor become noise), the label ids,
    and the last pass's sums per label.
    """
    labels = labels.copy()
    ids = sorted(set(labels.tolist()) - {NOISE})
    row_of = {k: i for i, k in enumerate(ids)}
    weights = np.bincount(item_rows, minlength=len(X)).astype(np.float64)
    dim = X.shape[1]
    lab_group = {}
    for k in ids:
        g, n = np.unique(groups[labels == k], return_counts=True)
        lab_group[k] = g[n.argmax()]
    index = {g: _Neighbours(X[groups == g], labels[groups == g], window.config.window_neighbours,
                            window.config.random_state) for g in set(groups.tolist())}

    def window_sums(lab: np.ndarray) -> np.ndarray:
        S = np.zeros((len(ids), dim))
        member = np.flatnonzero(lab != NOISE)
        rows = np.array([row_of[int(k)] for k in lab[member]], dtype=np.int64)
        np.add.at(S, rows, X[member] * weights[member, None])
        return S

    C0 = _unit(window_sums(labels))
    history = [C0]
    con.register("window_hashes", pa.table({"text_hash": window.hashes}))
    try:
        con.execute(REST_SQL.format(rest=f"{stage}_rest"), {"until": window.until})
    finally:
        con.unregister("window_hashes")
    try:
        while True:
            result = _pass(con, window, index, history, ids, row_of, lab_group,
                           label_of_theme=label_of_theme, floor=floor, stickiness=stickiness,
                           stage=stage)
            while True:  # window members, checked directly against the combined centroid
                C = _unit(window_sums(labels) + result.sums)
                member = np.flatnonzero(labels != NOISE)
                rows = [row_of[int(k)] for k in labels[member]]
                below = member[np.einsum("ij,ij->i", X[member], C[rows]) < floor]
                if not len(below):
                    break
                labels[below] = NOISE
            drift = np.linalg.norm(C - history[-1], axis=1)
            has = result.counts > 0
            result.bound = result.min_sim - drift
            if not has.any() or (result.bound[has] >= floor).all():
                window.stats.update(passes=len(history), items=result.items,
                                    assigned_items=result.items - result.noise,
                                    assigned_noise=result.noise, kept_previous=result.kept_previous)
                return labels, ids, result
            history.append(C)
    finally:  # a failed night leaves no copy of the outside items behind
        con.execute(f"DROP TABLE IF EXISTS {stage}_rest")


def assign_outside(con: duckdb.DuckDBPyConnection, c: Clustering, theme_of: dict[int, int],
                   languages: list[str | None], *, floor: float,
                   stickiness: float) -> dict[int, tuple[np.ndarray, int, float]]:
    """``assign_rest`` for the windowed clustering ``c`` whose labels keep the stored themes
    ``theme_of`` (label -> theme id); updates ``c.labels`` and returns, per label, the vector
    sum, count and member bound of its members outside the window (``store.write_themes``)."""
    window = c.window
    groups = np.array(language_groups(languages) if window.split_languages
                      else ["all"] * len(c.X), dtype=object)
    c.labels, ids, result = assign_rest(
        con, window, c.X, c.item_rows, c.labels, groups,
        label_of_theme={t: lab for lab, t in theme_of.items()}, floor=floor,
        stickiness=stickiness)
    window.stats.update(window_texts=len(c.X),
                        texts=count_texts(con, window.model_id, window.until))
    return {k: (result.sums[i], int(result.counts[i]), float(result.bound[i]) - 1e-5)
            for i, k in enumerate(ids) if result.counts[i]}


def _pass(con: duckdb.DuckDBPyConnection, window: Window, index: dict, history: list[np.ndarray],
          ids: list[int], row_of: dict[int, int], lab_group: dict, *,
          label_of_theme: dict[int, int], floor: float, stickiness: float,
          stage: str) -> Assigned:
    dim = history[0].shape[1]
    out = Assigned(np.zeros((len(ids), dim)), np.zeros(len(ids), np.int64),
                   np.full(len(ids), np.inf))
    con.execute(f"CREATE OR REPLACE TEMP TABLE {stage} (source VARCHAR, external_id VARCHAR, "
                "text_hash VARCHAR, label INTEGER, similarity FLOAT)")
    lab_ids = np.array(ids + [NOISE], dtype=np.int64)
    prev_row = {t: row_of[lab] for t, lab in label_of_theme.items() if lab in row_of}
    # One batch of vectors at a time, matched to its items outside the window (db.py).
    for batch, Q in vectors_matched(con, window.model_id, f"{stage}_rest",
                                    "r.text_hash, r.source, r.external_id, r.language, "
                                    "r.previous", window.config.batch_rows):
        n = len(Q)
        groups = np.array(language_groups(batch["language"].to_pylist())
                          if window.split_languages else ["all"] * n, dtype=object)
        chosen = np.full(n, len(ids))  # label row; len(ids) is noise
        for g in set(groups.tolist()):
            rows = np.flatnonzero(groups == g)
            if g not in index:
                continue  # a language without window texts has no theme here
            voted = index[g].votes(Q[rows])
            chosen[rows] = [row_of.get(int(v), len(ids)) if v != NOISE else len(ids)
                            for v in voted]
        # Each row's cosine to every centroid it is measured against (C0 decides stickiness).
        S0 = np.hstack([Q @ history[0].T, np.full((n, 1), -1.0, np.float32)])
        previous = batch["previous"].to_numpy(zero_copy_only=False)
        prev = np.array([prev_row.get(int(t), -1) if t == t else -1 for t in previous])
        s_now = S0[np.arange(n), chosen]
        s_prev = np.where(prev >= 0, S0[np.arange(n), np.maximum(prev, 0)], -1.0)
        stay = (prev >= 0) & (prev != chosen) & (s_now - s_prev < stickiness)
        # A theme of another language group is no place to stay in.
        stay &= np.array([p < 0 or lab_group[ids[p]] == g or not window.split_languages
                          for p, g in zip(prev.tolist(), groups.tolist(), strict=True)])
        chosen = np.where(stay, prev, chosen)
        out.kept_previous += int(stay.sum())
        sim = S0[np.arange(n), chosen]
        ok = (chosen < len(ids)) & (sim >= floor)
        for C in history[1:]:
            sim = np.where(ok, np.einsum("ij,ij->i", Q, C[np.minimum(chosen, len(ids) - 1)]),
                           sim) if len(ids) else sim
            ok &= sim >= floor
        chosen = np.where(ok, chosen, len(ids))
        member = np.flatnonzero(ok)
        np.add.at(out.sums, chosen[member], Q[member])
        np.add.at(out.counts, chosen[member], 1)
        np.minimum.at(out.min_sim, chosen[member], sim[member])
        out.items += n
        out.noise += n - len(member)
        staged = pa.table({  # noqa: F841 - read by DuckDB by name
            "source": batch["source"], "external_id": batch["external_id"],
            "text_hash": batch["text_hash"],
            "label": pa.array(lab_ids[chosen].astype(np.int32)),
            "similarity": pa.array(np.where(ok, sim, 0.0).astype(np.float32))})
        con.execute(f"INSERT INTO {stage} SELECT * FROM staged")
    return out


def _unit(S: np.ndarray) -> np.ndarray:
    return (S / np.maximum(np.linalg.norm(S, axis=1, keepdims=True), 1e-12)).astype(np.float32)


def write_rest(con: duckdb.DuckDBPyConnection, theme_of: dict[int, int], *, run_id: str,
               stage: str = "window_assigned") -> None:
    """Store the staged outside items under their theme ids (a label without one: noise)."""
    mapping = pa.table({  # noqa: F841 - read by DuckDB by name
        "label": pa.array(list(theme_of), pa.int32()),
        "theme_id": pa.array(list(theme_of.values()), pa.int32())})
    con.execute(
        f"""
        INSERT INTO item_themes
        SELECT s.source, s.external_id, coalesce(m.theme_id, -1),
               CASE WHEN m.theme_id IS NULL THEN 0.0 ELSE s.similarity END, s.text_hash,
               'assigned', ?
        FROM {stage} s LEFT JOIN mapping m ON m.label = s.label
        """, [run_id])
    con.execute(f"DROP TABLE IF EXISTS {stage}")


__all__ = ["Window", "assign_outside", "assign_rest", "count_texts", "window_config",
           "window_texts", "write_rest"]
