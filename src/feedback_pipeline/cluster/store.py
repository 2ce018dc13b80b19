"""The one place themes and item assignments are written (and read back as ``StoredThemes``), so
every path leaves them consistent.

A full re-cluster, the incremental night and a person's corrections all change themes; sharing
these writers keeps a theme's centroid, vector sum, size, dates and events in step whichever
path touched it.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field

import duckdb
import numpy as np
import pyarrow as pa

from feedback_pipeline.cluster.corpus import Clustering, unit
from feedback_pipeline.cluster.model import NOISE
from feedback_pipeline.warehouse.db import arrow_query, vectors_to_numpy

log = logging.getLogger(__name__)


@dataclass
class StoredThemes:
    ids: list[int]
    C: np.ndarray
    status: dict[int, str]
    # A theme a person merged away resolves to the theme it was merged into.
    target: dict[int, int] = field(default_factory=dict)
    splits: list[tuple[int, int]] = field(default_factory=list)

    def resolve(self, theme_id: int) -> int:
        seen = set()
        while theme_id in self.target and theme_id not in seen:
            seen.add(theme_id)
            theme_id = self.target[theme_id]
        return theme_id


def load_themes(con: duckdb.DuckDBPyConnection, *, dim: int | None = None,
                comparable: bool = True) -> StoredThemes:
    """Themes a new clustering may match: live ones, faded ones, and the ones people merged away.

    Centroids made by another embedding model (``comparable`` False, or not ``dim`` long) say
    nothing in tonight's space: they come back as zeros, so the themes are matched on their
    members alone (``match_themes``' overlap) and a person's split is not enforced that night.
    """
    human_merges = dict(con.execute(
        "SELECT theme_id, other_theme FROM theme_decisions WHERE action = 'merge'").fetchall())
    t = arrow_query(
        con, "SELECT theme_id, centroid, status FROM themes WHERE centroid IS NOT NULL "
        "AND (status IN ('active', 'rejected', 'faded') OR theme_id IN "
        "(SELECT theme_id FROM theme_decisions WHERE action = 'merge')) ORDER BY theme_id", {})
    splits = con.execute(
        "SELECT theme_id, other_theme FROM theme_decisions WHERE action = 'split'").fetchall()
    ids = t["theme_id"].to_pylist()
    C = vectors_to_numpy(t["centroid"]) if ids else np.zeros((0, dim or 1), np.float32)
    if ids and dim is not None and (not comparable or C.shape[1] != dim):
        log.info("the %d stored themes' centroids come from another embedding model: matched "
                 "on their members only", len(ids))
        C = np.zeros((len(ids), dim), np.float32)
    return StoredThemes(ids, C, dict(zip(ids, t["status"].to_pylist(), strict=True)),
                        human_merges, [(a, b) for a, b in splits])


def previous_assignment(con: duckdb.DuckDBPyConnection,
                        keys: list[tuple[str, str]] | None = None) -> dict[tuple[str, str], int]:
    """Each item's stored theme (only ``keys``'s, when given: a window's, see window.py)."""
    if keys is None:
        return {(s, e): t for s, e, t in con.execute(
            "SELECT source, external_id, theme_id FROM item_themes").fetchall()}
    wanted = pa.table({"source": [k[0] for k in keys],  # noqa: F841 - read by DuckDB by name
                       "external_id": [k[1] for k in keys]})
    return {(s, e): t for s, e, t in con.execute(
        "SELECT source, external_id, theme_id FROM item_themes JOIN wanted "
        "USING (source, external_id)").fetchall()}


def record_events(con: duckdb.DuckDBPyConnection, run_id: str, events: list[tuple]) -> None:
    if events:
        con.executemany("INSERT INTO theme_events (run_id, theme_id, event, other_theme, detail) "
                        "VALUES (?, ?, ?, ?, ?)", [(run_id, *e) for e in events])


def write_themes(con: duckdb.DuckDBPyConnection, c: Clustering, theme_of: dict[int, int],
                 labels: dict, *, run_id: str, split_parent: dict[int, int] | None = None,
                 extra: dict[int, tuple[np.ndarray, int, float]] | None = None) -> None:
    """Upsert the labelled themes of clustering ``c`` (labels: cluster label -> ThemeLabel);
    ``extra``: per cluster label, the vector sum, count and member bound of members outside
    ``c`` (window.py)."""
    first_item: dict[int, int] = {}
    for item, r in enumerate(c.item_rows.tolist()):
        first_item.setdefault(r, item)
    vectors = c.item_vectors()
    item_labels = c.item_labels
    rows = []
    for lab, tid in theme_of.items():
        members = item_labels == lab
        if not members.any() or lab not in labels:
            continue
        total = vectors[members].sum(axis=0)
        size = int(members.sum())
        if extra and lab in extra:
            total, size = (total + extra[lab][0]).astype(np.float32), size + extra[lab][1]
        # The floor's bound for incremental nights (keep_floor), a hair under the exact minimum
        # so float rounding of the stored centroid can never make it promise too much.
        bound = float((vectors[members] @ unit(total)).min()) - 1e-5
        if extra and lab in extra:
            bound = min(bound, extra[lab][2])
        lbl = labels[lab]
        quotes = [{"source": c.keys[first_item[r]][0], "external_id": c.keys[first_item[r]][1],
                   "text": c.texts[r], "url": c.urls[first_item[r]]} for r in lbl.quote_indices]
        rows.append((tid, lbl.title, lbl.keywords, json.dumps(quotes), unit(total).tolist(),
                     total.tolist(), size, (split_parent or {}).get(tid),
                     lbl.sentence, bound))
    # Two clusters may map to one theme (a person merged them): sum them up.
    by_theme: dict[int, list] = {}
    for r in rows:
        if r[0] in by_theme:
            prev = by_theme[r[0]]
            total = np.add(prev[5], r[5])
            prev[4], prev[5], prev[6] = unit(total).tolist(), total.tolist(), prev[6] + r[6]
            prev[9] = None  # the centroid moved: its members are checked afresh next time
        else:
            by_theme[r[0]] = list(r)
    for (tid, title, keywords, quotes, centroid, total, size, parent, sentence,
         bound) in by_theme.values():
        con.execute(
            """
            INSERT INTO themes (theme_id, title, keywords, quotes, centroid, vector_sum, size,
                                status, split_from, created_run, updated_run, sentence,
                                member_bound, member_bound_size)
            VALUES (?, ?, ?, ?, ?, ?, ?, 'active', ?, ?, ?, ?, ?, ?)
            ON CONFLICT (theme_id) DO UPDATE SET
                member_bound = excluded.member_bound,
                member_bound_size = excluded.member_bound_size,
                keywords = excluded.keywords, quotes = excluded.quotes,
                sentence = excluded.sentence,
                centroid = excluded.centroid, vector_sum = excluded.vector_sum, size = excluded.size,
                status = CASE WHEN themes.status = 'rejected' THEN 'rejected' ELSE 'active' END,
                merged_into = NULL,
                title = CASE WHEN themes.title_locked THEN themes.title ELSE excluded.title END,
                updated_run = excluded.updated_run
            """,
            [tid, title, keywords, quotes, centroid, total, size, parent, run_id, run_id, sentence,
             bound, size],
        )


def replace_assignments(con: duckdb.DuckDBPyConnection, c: Clustering, item_theme: np.ndarray, *,
                        run_id: str, method: str, only_these: bool = False) -> None:
    """Store each item's theme (NOISE included); ``only_these`` keeps other items' rows."""
    sim = c.similarity[c.item_rows] if len(c.item_rows) else np.zeros(0, np.float32)
    staged = pa.table({  # noqa: F841 - read by DuckDB by name
        "source": [k[0] for k in c.keys],
        "external_id": [k[1] for k in c.keys],
        "theme_id": pa.array(item_theme.astype(np.int32), type=pa.int32()),
        "similarity": pa.array(np.where(item_theme == NOISE, 0.0, sim), type=pa.float32()),
        "text_hash": [c.text_hashes[r] for r in c.item_rows.tolist()],
    })
    if only_these:
        con.execute("DELETE FROM item_themes USING staged WHERE item_themes.source = staged.source "
                    "AND item_themes.external_id = staged.external_id")
    else:
        con.execute("DELETE FROM item_themes")
    con.execute("INSERT INTO item_themes SELECT source, external_id, theme_id, similarity, "
                "text_hash, ?, ? FROM staged", [method, run_id])
    refresh_theme_dates(con)


def refresh_theme_dates(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(
        """
        UPDATE themes SET first_seen = s.first_seen, last_seen = s.last_seen
        FROM (SELECT t.theme_id, min(i.created_at) AS first_seen, max(i.created_at) AS last_seen
              FROM item_themes t JOIN items i USING (source, external_id)
              WHERE t.theme_id <> -1 GROUP BY t.theme_id) s
        WHERE themes.theme_id = s.theme_id
        """
    )


__all__ = ["StoredThemes", "load_themes", "previous_assignment", "record_events",
           "refresh_theme_dates", "replace_assignments", "write_themes"]
