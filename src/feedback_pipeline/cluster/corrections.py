"""People's corrections to themes: merge, split, rename, reject.

Each is applied at once (so the next ranking shows it) and recorded in ``theme_decisions``, which
later runs read: a theme merged away attracts its look-alikes into the theme it was merged into,
a split's parts are kept apart on full re-clusters, a renamed title is locked, a rejected theme
stays rejected (its items are never surfaced). Every change is also a ``theme_events`` row.
"""

from __future__ import annotations

import duckdb
import numpy as np

from feedback_pipeline.cluster.config import LabelConfig
from feedback_pipeline.cluster.corpus import load_corpus, text_languages, unit
from feedback_pipeline.cluster.label import label_themes
from feedback_pipeline.cluster.store import record_events, write_themes
from feedback_pipeline.errors import FeedbackPipelineError
from feedback_pipeline.warehouse.db import transaction


class CorrectionError(FeedbackPipelineError):
    """A correction cannot be applied (unknown theme, wrong state)."""


def _theme(con: duckdb.DuckDBPyConnection, theme_id: int) -> tuple[str, str]:
    row = con.execute("SELECT status, title FROM themes WHERE theme_id = ?", [theme_id]).fetchone()
    if row is None:
        raise CorrectionError(f"there is no theme {theme_id}: see `feedback-pipeline themes`")
    return row


def _decide(con: duckdb.DuckDBPyConnection, action: str, theme_id: int, *, other: int | None = None,
            value: str | None = None, by: str | None = None) -> None:
    con.execute("INSERT INTO theme_decisions (action, theme_id, other_theme, value, decided_by) "
                "VALUES (?, ?, ?, ?, ?)", [action, theme_id, other, value, by])


def rename_theme(con: duckdb.DuckDBPyConnection, theme_id: int, title: str, *,
                 by: str | None = None) -> None:
    """Give a theme a person's title; runs keep it (labels still refresh keywords and quotes)."""
    _, old = _theme(con, theme_id)
    title = " ".join(title.split())
    if not title:
        raise CorrectionError("the new title is empty")
    with transaction(con):
        con.execute("UPDATE themes SET title = ?, title_locked = TRUE WHERE theme_id = ?",
                    [title, theme_id])
        _decide(con, "rename", theme_id, value=title, by=by)
        record_events(con, "manual", [(theme_id, "renamed", None, f"{old!r} -> {title!r}")])


def reject_theme(con: duckdb.DuckDBPyConnection, theme_id: int, *, by: str | None = None) -> None:
    """Mark a theme as noise: it is never ranked or delivered, now or after later runs."""
    _theme(con, theme_id)
    with transaction(con):
        con.execute("UPDATE themes SET status = 'rejected' WHERE theme_id = ?", [theme_id])
        _decide(con, "reject", theme_id, by=by)
        record_events(con, "manual", [(theme_id, "rejected", None, None)])


def merge_themes(con: duckdb.DuckDBPyConnection, theme_id: int, into: int, *,
                 by: str | None = None) -> None:
    """Merge ``theme_id`` into ``into``: its items move, and its look-alikes follow later."""
    if theme_id == into:
        raise CorrectionError("a theme cannot be merged into itself")
    status, _ = _theme(con, theme_id)
    into_status, _ = _theme(con, into)
    if into_status in ("merged", "rejected"):
        raise CorrectionError(f"theme {into} is {into_status}; merge into a live theme")
    a = con.execute("SELECT vector_sum, size FROM themes WHERE theme_id = ?", [theme_id]).fetchone()
    b = con.execute("SELECT vector_sum, size FROM themes WHERE theme_id = ?", [into]).fetchone()
    total = np.asarray(b[0] or 0, dtype=np.float32) + np.asarray(a[0] or 0, dtype=np.float32)
    with transaction(con):
        con.execute("UPDATE item_themes SET theme_id = ?, method = 'manual' WHERE theme_id = ?",
                    [into, theme_id])
        con.execute("UPDATE themes SET vector_sum = ?, centroid = ?, size = ? WHERE theme_id = ?",
                    [total.tolist(), unit(total).tolist(), (a[1] or 0) + (b[1] or 0), into])
        con.execute("UPDATE themes SET status = 'merged', merged_into = ?, size = 0 "
                    "WHERE theme_id = ?", [into, theme_id])
        _decide(con, "merge", theme_id, other=into, by=by)
        record_events(con, "manual", [(theme_id, "merged_into", into, f"was {status}")])


def split_theme(con: duckdb.DuckDBPyConnection, theme_id: int, *, model_id: str,
                label_config: LabelConfig, by: str | None = None) -> int:
    """Split a theme in two (2-means on its members); the larger part keeps the id.

    Returns the new theme's id.
    """
    from sklearn.cluster import KMeans

    _theme(con, theme_id)
    c = load_corpus(con, model_id, where="EXISTS (SELECT 1 FROM item_themes t WHERE "
                    "t.source = i.source AND t.external_id = i.external_id AND t.theme_id = $tid)",
                    params={"tid": theme_id})
    if len(c.X) < 4:
        raise CorrectionError(f"theme {theme_id} has too few distinct texts ({len(c.X)}) to split")
    parts = KMeans(n_clusters=2, n_init=10, random_state=0).fit(c.X).labels_
    item_parts = parts[c.item_rows]
    larger = int(np.bincount(item_parts).argmax())
    c.labels = np.where(parts == larger, 0, 1)
    C = np.stack([unit(c.X[c.labels == k].mean(axis=0)) for k in (0, 1)])
    c.similarity = np.einsum("ij,ij->i", c.X, C[c.labels]).astype(np.float32)
    language = text_languages(con, c.text_hashes)
    labels = label_themes(c.texts, c.labels, c.similarity, label_config, vectors=c.X,
                          languages=[language.get(h) for h in c.text_hashes])
    with transaction(con):
        new_id = con.execute("SELECT nextval('theme_id_seq')").fetchone()[0]
        write_themes(con, c, {0: theme_id, 1: new_id}, labels, run_id="manual",
                     split_parent={new_id: theme_id})
        moved = [k for k, p in zip(c.keys, c.item_labels.tolist(), strict=True) if p == 1]
        con.executemany("UPDATE item_themes SET theme_id = ?, method = 'manual' "
                        "WHERE source = ? AND external_id = ?", [(new_id, s, e) for s, e in moved])
        _decide(con, "split", theme_id, other=new_id, by=by)
        record_events(con, "manual", [(new_id, "split_from", theme_id,
                                       f"{len(moved)} items split off by a person")])
    return new_id


__all__ = ["CorrectionError", "merge_themes", "reject_theme", "rename_theme", "split_theme"]
