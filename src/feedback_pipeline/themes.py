"""Themes that keep their identity: match a new clustering to the stored themes and persist it.

Each cluster of tonight's run is matched one-to-one to a stored theme (Hungarian assignment on
centroid cosine similarity, accepted at ``match_similarity`` or above). A matched cluster keeps
the theme's id (and a person's rename or rejection); an unmatched cluster becomes a new theme; a
stored theme left without a cluster fades. Every change is written to ``theme_events``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import duckdb
import numpy as np
import pyarrow as pa
from scipy.optimize import linear_sum_assignment

from .cluster import NOISE, ThemeClusterer, centroids
from .config import ClusterConfig, LabelConfig
from .db import transaction
from .embed import vectors_to_numpy
from .label import label_themes

MATCH_SIMILARITY = 0.80


@dataclass
class Clustering:
    """Tonight's clustering over unique texts, before it is given theme ids."""

    keys: list[tuple[str, str]]  # (source, external_id) per item
    urls: list[str | None]  # per item
    item_rows: np.ndarray  # item -> row in X
    texts: list[str]  # per unique text
    X: np.ndarray
    labels: np.ndarray  # per unique text
    similarity: np.ndarray


def load_corpus(con: duckdb.DuckDBPyConnection, model_id: str) -> Clustering:
    """Kept, embedded items and their unique texts' vectors (not yet clustered)."""
    table = con.sql(
        """
        SELECT i.source, i.external_id, i.url, i.text_hash, i.clean_text AS text, e.vector
        FROM items i JOIN embeddings e ON e.text_hash = i.text_hash AND e.model = ?
        WHERE i.drop_reason IS NULL
        ORDER BY i.text_hash, i.source, i.external_id
        """,
        params=[model_id],
    ).to_arrow_table()
    keys = list(zip(table["source"].to_pylist(), table["external_id"].to_pylist(), strict=True))
    hashes = table["text_hash"].to_pylist()
    first: dict[str, int] = {}
    item_rows = np.empty(len(hashes), dtype=np.int64)
    unique_idx: list[int] = []
    for i, h in enumerate(hashes):
        if h not in first:
            first[h] = len(unique_idx)
            unique_idx.append(i)
        item_rows[i] = first[h]
    texts_all = table["text"].to_pylist()
    X = vectors_to_numpy(table["vector"].take(pa.array(unique_idx, type=pa.int64())))
    n = len(unique_idx)
    return Clustering(keys, table["url"].to_pylist(), item_rows, [texts_all[i] for i in unique_idx],
                      X, np.full(n, NOISE, dtype=np.int64), np.zeros(n, dtype=np.float32))


def cluster_corpus(con: duckdb.DuckDBPyConnection, model_id: str, config: ClusterConfig) -> Clustering:
    corpus = load_corpus(con, model_id)
    if len(corpus.X):
        model = ThemeClusterer(config).fit(corpus.X)
        corpus.labels, corpus.similarity = model.labels_, model.similarity_
    return corpus


def match_themes(
    new_ids: np.ndarray, new_C: np.ndarray, old_ids: list[int], old_C: np.ndarray,
    threshold: float = MATCH_SIMILARITY,
) -> dict[int, tuple[int, float]]:
    """One-to-one match of new clusters to stored themes: {new label: (theme_id, similarity)}."""
    if not len(new_ids) or not len(old_ids):
        return {}
    S = new_C @ old_C.T
    rows, cols = linear_sum_assignment(-S)
    return {
        int(new_ids[r]): (int(old_ids[c]), float(S[r, c]))
        for r, c in zip(rows, cols, strict=True)
        if S[r, c] >= threshold
    }


def save_clustering(
    con: duckdb.DuckDBPyConnection, c: Clustering, *, run_id: str, label_config: LabelConfig
) -> dict:
    """Give tonight's clusters theme ids, label them, and store themes and memberships."""
    labels_by_text = c.labels
    ids, C = centroids(c.X, labels_by_text) if len(c.X) else (np.zeros(0, dtype=np.int64), None)
    item_labels = labels_by_text[c.item_rows] if len(c.item_rows) else np.zeros(0, dtype=np.int64)
    old = con.execute(
        "SELECT theme_id, centroid, status FROM themes WHERE status IN ('active', 'rejected', 'faded')"
    ).fetchall()
    old_ids = [r[0] for r in old]
    old_status = {r[0]: r[2] for r in old}
    old_C = np.array([r[1] for r in old], dtype=np.float32) if old else np.zeros((0, 1))
    matches = match_themes(ids, C, old_ids, old_C) if C is not None else {}
    labels = label_themes(c.texts, labels_by_text, c.similarity, label_config) if len(ids) else {}

    # Representative items: first item of each representative text.
    first_item: dict[int, int] = {}
    for item, row in enumerate(c.item_rows.tolist()):
        first_item.setdefault(row, item)
    events: list[tuple] = []
    theme_of_label: dict[int, int] = {}
    with transaction(con):
        for pos, lab in enumerate(ids.tolist()):
            members = np.flatnonzero(item_labels == lab)
            lbl = labels[lab]
            quotes = []
            for r in lbl.quote_indices:
                src, ext = c.keys[first_item[r]]
                quotes.append({"source": src, "external_id": ext, "text": c.texts[r],
                               "url": c.urls[first_item[r]]})
            if lab in matches:
                theme_id, sim = matches[lab]
                status = old_status[theme_id]
                if status == "faded":
                    status = "active"
                    events.append((run_id, theme_id, "revived", None, f"similarity {sim:.2f}"))
                con.execute(
                    """
                    UPDATE themes SET keywords = ?, quotes = ?, centroid = ?, size = ?, status = ?,
                        title = CASE WHEN title_locked THEN title ELSE ? END, updated_run = ?
                    WHERE theme_id = ?
                    """,
                    [lbl.keywords, json.dumps(quotes), C[pos].tolist(), len(members), status,
                     lbl.title, run_id, theme_id],
                )
            else:
                theme_id = con.execute("SELECT nextval('theme_id_seq')").fetchone()[0]
                con.execute(
                    """
                    INSERT INTO themes (theme_id, title, keywords, quotes, centroid, size, status,
                                        created_run, updated_run)
                    VALUES (?, ?, ?, ?, ?, ?, 'active', ?, ?)
                    """,
                    [theme_id, lbl.title, lbl.keywords, json.dumps(quotes), C[pos].tolist(),
                     len(members), run_id, run_id],
                )
                events.append((run_id, theme_id, "created", None, None))
            theme_of_label[lab] = theme_id
        matched_old = {t for t, _ in matches.values()}
        for theme_id in old_ids:
            if theme_id not in matched_old and old_status[theme_id] == "active":
                con.execute("UPDATE themes SET status = 'faded', size = 0, updated_run = ? "
                            "WHERE theme_id = ?", [run_id, theme_id])
                events.append((run_id, theme_id, "faded", None, None))
        if events:
            con.executemany(
                "INSERT INTO theme_events (run_id, theme_id, event, other_theme, detail) "
                "VALUES (?, ?, ?, ?, ?)", events)

        keep = item_labels != NOISE
        staged = pa.table({  # noqa: F841 - read by DuckDB by name
            "source": [k[0] for k, m in zip(c.keys, keep, strict=True) if m],
            "external_id": [k[1] for k, m in zip(c.keys, keep, strict=True) if m],
            "theme_id": pa.array([theme_of_label[int(v)] for v in item_labels[keep]], type=pa.int32()),
            "similarity": pa.array(c.similarity[c.item_rows][keep] if len(c.item_rows) else [],
                                   type=pa.float32()),
        })
        con.execute("DELETE FROM item_themes")
        con.execute("INSERT INTO item_themes SELECT source, external_id, theme_id, similarity, ? "
                    "FROM staged", [run_id])
        con.execute(
            """
            UPDATE themes SET first_seen = s.first_seen, last_seen = s.last_seen
            FROM (SELECT t.theme_id, min(i.created_at) AS first_seen, max(i.created_at) AS last_seen
                  FROM item_themes t JOIN items i USING (source, external_id) GROUP BY t.theme_id) s
            WHERE themes.theme_id = s.theme_id
            """
        )
    n_items = len(item_labels)
    return {
        "items": n_items,
        "unique_texts": len(c.texts),
        "themes": len(ids),
        "noise_items": int((~keep).sum()) if n_items else 0,
        "noise_fraction": round(float((~keep).mean()), 4) if n_items else 0.0,
        "new_themes": sum(1 for e in events if e[2] == "created"),
        "faded_themes": sum(1 for e in events if e[2] == "faded"),
    }


__all__ = ["Clustering", "cluster_corpus", "load_corpus", "match_themes", "save_clustering"]
