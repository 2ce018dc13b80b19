"""Themes that keep their identity: match a clustering to the stored themes and persist it.

A full re-cluster is matched one-to-one to the stored themes (Hungarian assignment on the mean of
centroid cosine similarity and member overlap; accepted when the centroids are at least
``match_similarity`` alike or the members overlap by ``match_overlap``). Then:

- a matched cluster keeps the theme's id (and a person's rename or rejection);
- an unmatched cluster whose members mostly came from one stored theme is ``split_from`` it,
  otherwise it is ``created``;
- an unmatched stored theme whose members mostly went to one theme is ``merged_into`` it,
  otherwise it ``faded``; a faded theme that matches again is ``revived``;
- people's decisions (``theme_decisions``) win: a merged theme's look-alikes join the theme it was
  merged into, a split keeps its parts apart, a rejected theme stays rejected.

Every id change is written to ``theme_events``.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import numpy as np
from scipy.optimize import linear_sum_assignment

from feedback_pipeline.cluster.config import LabelConfig, ThemesConfig
from feedback_pipeline.cluster.corpus import Clustering, text_languages, unit
from feedback_pipeline.cluster.curate import curate_themes
from feedback_pipeline.cluster.label import Embed, label_themes
from feedback_pipeline.cluster.model import NOISE, apply_member_floor
from feedback_pipeline.cluster.store import (
    StoredThemes,
    load_themes,
    previous_assignment,
    record_events,
    replace_assignments,
    write_themes,
)
from feedback_pipeline.cluster.window import assign_outside, write_rest
from feedback_pipeline.warehouse.db import transaction


def match_themes(
    new_ids: np.ndarray, new_C: np.ndarray, old_ids: list[int], old_C: np.ndarray,
    threshold: float = 0.80, overlap: np.ndarray | None = None, min_overlap: float = 0.5,
) -> dict[int, tuple[int, float]]:
    """One-to-one match of new clusters to stored themes: {new label: (theme_id, similarity)}.

    ``overlap`` (new x old Jaccard of members), when given, is averaged with the centroid
    similarity for the assignment, and a pair is accepted on either criterion.
    """
    if not len(new_ids) or not len(old_ids):
        return {}
    S = new_C @ old_C.T
    J = overlap if overlap is not None else np.zeros_like(S)
    # Only acceptable pairs compete: a pair below both thresholds must not decide who gets what.
    acceptable = (threshold <= S) | (min_overlap <= J)
    rows, cols = linear_sum_assignment(-np.where(acceptable, (S + J) / 2, -10.0))
    return {
        int(new_ids[r]): (int(old_ids[c]), float(S[r, c]))
        for r, c in zip(rows, cols, strict=True)
        if S[r, c] >= threshold or J[r, c] >= min_overlap
    }


@dataclass
class Identity:
    """The outcome of matching: theme id per cluster label, and what happened to old themes."""

    theme_of: dict[int, int]  # cluster label -> theme id (existing or new)
    new_labels: list[int]  # labels that need a new theme id
    # (theme id, or ("new", cluster label) for a theme without an id yet, event, other, detail)
    events: list[tuple[int | tuple[str, int], str, int | None, str | None]]
    merged: dict[int, int]  # old theme -> theme it merged into
    faded: list[int]
    revived: list[int]


def identify(c: Clustering, stored: StoredThemes, previous: dict[tuple[str, str], int],
             config: ThemesConfig) -> Identity:
    item_labels = c.item_labels
    labels = sorted(set(item_labels.tolist()) - {NOISE})
    vectors = c.item_vectors()
    new_C = np.stack([unit(vectors[item_labels == k].sum(axis=0)) for k in labels]) if labels \
        else np.zeros((0, c.X.shape[1] if c.X.ndim == 2 else 1), np.float32)
    col = {t: j for j, t in enumerate(stored.ids)}
    inter = np.zeros((len(labels), len(stored.ids)))
    new_prev = np.zeros(len(labels))  # members that existed last run
    old_now = np.zeros(len(stored.ids))  # old members still here
    row = {k: i for i, k in enumerate(labels)}
    for key, lab in zip(c.keys, item_labels.tolist(), strict=True):
        t = previous.get(key)
        if t is None:
            continue
        if lab != NOISE:
            new_prev[row[lab]] += 1
        if t in col:
            old_now[col[t]] += 1
            if lab != NOISE:
                inter[row[lab], col[t]] += 1
    union = new_prev[:, None] + old_now[None, :] - inter
    J = np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)
    matches = match_themes(np.array(labels), new_C, stored.ids, stored.C, config.match_similarity,
                           J, config.match_overlap)

    events: list[tuple[int | None, str, int | None, str | None]] = []
    theme_of: dict[int, int] = {}
    revived: list[int] = []
    for lab, (tid, sim) in matches.items():
        resolved = stored.resolve(tid)
        theme_of[lab] = resolved
        if stored.status.get(resolved) == "faded":
            revived.append(resolved)
            events.append((resolved, "revived", None, f"similarity {sim:.2f}"))
    for part in apply_splits(c, theme_of, stored):
        matches[part] = (theme_of[part], 1.0)
    new_labels = [k for k in labels if k not in matches]
    alive = set(theme_of.values())
    for lab in labels:
        # Record every theme that gave this cluster a real part of its members: a new cluster
        # made of them was split from them; a kept theme that took them took a split-off part.
        i = row[lab]
        own = theme_of.get(lab)
        parts = [(int(inter[i, j]), stored.ids[j]) for j in np.flatnonzero(
            inter[i] >= max(config.lineage_min_items, config.lineage_part * new_prev[i]))
            if stored.ids[j] in alive and stored.ids[j] != own]
        subject = ("new", lab) if own is None else own
        for n, tid in sorted(parts, reverse=True):
            events.append((subject, "split_from", tid, f"{n} of {int(new_prev[i])} earlier members"))
        if own is None and not parts:
            events.append((subject, "created", None, None))
    matched_old = {tid for tid, _ in matches.values()} | set(theme_of.values())
    merged: dict[int, int] = {}
    faded: list[int] = []
    for j, tid in enumerate(stored.ids):
        if tid in matched_old or stored.status.get(tid) != "active" or tid in stored.target:
            continue
        i = int(inter[:, j].argmax()) if len(labels) else -1
        if i >= 0 and old_now[j] and inter[i, j] >= config.lineage_share * old_now[j] \
                and labels[i] in theme_of:
            merged[tid] = theme_of[labels[i]]
            events.append((tid, "merged_into", theme_of[labels[i]],
                           f"{int(inter[i, j])} of {int(old_now[j])} members"))
        else:
            faded.append(tid)
            events.append((tid, "faded", None, None))
    return Identity(theme_of, new_labels, events, merged, faded, revived)


def apply_splits(c: Clustering, theme_of: dict[int, int], stored: StoredThemes) -> list[int]:
    """Keep apart what a person split: if one cluster holds both parts, divide it by the parts'
    stored centroids. Returns the cluster labels created for the second parts."""
    pos = {t: i for i, t in enumerate(stored.ids)}
    created: list[int] = []
    for a, b in stored.splits:
        if a not in pos or b not in pos:
            continue
        labs = [lab for lab, t in theme_of.items() if t in (a, b)]
        if len(labs) != 1:
            continue  # both parts found (or neither): the clustering already keeps them apart
        lab = labs[0]
        rows = np.flatnonzero(c.labels == lab)
        near_b = c.X[rows] @ stored.C[pos[b]] > c.X[rows] @ stored.C[pos[a]]
        if near_b.all() or not near_b.any():
            continue
        other = int(c.labels.max()) + 1
        c.labels[rows[near_b]] = other
        theme_of[lab], theme_of[other] = a, b
        created.append(other)
    return created


def stick_to_previous(c: Clustering, identity: Identity, previous: dict[tuple[str, str], int],
                      stickiness: float, *, min_size: int) -> bool:
    """Hysteresis for full re-clusters: an item stays in its theme unless it is now clearly
    (by ``stickiness`` in cosine) closer to another one; split-offs left smaller than
    ``min_size`` dissolve back. Returns whether any label changed."""
    label_of_theme = {t: lab for lab, t in identity.theme_of.items()}
    prev_label = np.full(len(c.X), NOISE)
    for key, row in zip(c.keys, c.item_rows.tolist(), strict=True):
        lab = label_of_theme.get(previous.get(key, NOISE))
        if lab is not None:
            prev_label[row] = lab
    labels = sorted(set(c.labels.tolist()) | set(prev_label.tolist()) - {NOISE})
    labels = [k for k in labels if k != NOISE]
    if not labels:
        return False
    pos = {k: i for i, k in enumerate(labels)}
    C = np.stack([unit(c.X[c.labels == k].sum(axis=0)) if (c.labels == k).any()
                  else np.zeros(c.X.shape[1], np.float32) for k in labels])
    S = c.X @ C.T
    rows = np.arange(len(c.X))
    had = prev_label != NOISE
    now = np.array([pos.get(int(k), -1) for k in c.labels])
    before = np.array([pos.get(int(k), -1) for k in prev_label])
    s_before = np.where(had, S[rows, np.maximum(before, 0)], -1.0)
    s_now = np.where(now >= 0, S[rows, np.maximum(now, 0)], -1.0)
    stay = had & (c.labels != prev_label) & (s_now - s_before < stickiness)
    c.labels = np.where(stay, prev_label, c.labels)
    # A split-off (a new cluster) that lost most of its members to stickiness dissolves.
    for lab in identity.new_labels:
        members = c.labels == lab
        if 0 < members.sum() < min_size:
            back = prev_label[members]
            c.labels[np.flatnonzero(members)] = back
    changed = bool(stay.any())
    if changed:
        c.similarity = np.where(c.labels == NOISE, 0.0, S[rows, [pos.get(int(k), 0) for k in c.labels]])
        c.similarity = c.similarity.astype(np.float32)
    return changed


def settle_unexplained(c: Clustering, identity: Identity,
                       previous: dict[tuple[str, str], int]) -> int:
    """Undo moves between two surviving themes that no recorded split or merge explains.

    Such moves are a handful of boundary items trading places from one clustering to the next;
    keeping them where they were is what makes a theme's id mean the same items night after
    night. Returns how many texts were put back.
    """
    label_of_theme = {t: lab for lab, t in identity.theme_of.items()}
    explained = set()
    for subject, kind, other, _ in identity.events:
        if kind in ("split_from", "merged_into") and other is not None:
            explained.add((subject, other))
            explained.add((other, subject))
    back = 0
    seen: set[int] = set()
    for key, row in zip(c.keys, c.item_rows.tolist(), strict=True):
        if row in seen:
            continue
        seen.add(row)
        old = previous.get(key, NOISE)
        lab = int(c.labels[row])
        if old == NOISE or lab == NOISE or old not in label_of_theme:
            continue
        new = identity.theme_of.get(lab)
        subject = ("new", lab) if new is None else new
        if new != old and (subject, old) not in explained:
            c.labels[row] = label_of_theme[old]
            back += 1
    return back


def _languages(con: duckdb.DuckDBPyConnection, c: Clustering) -> list[str | None]:
    language = text_languages(con, c.text_hashes)
    return [language.get(h) for h in c.text_hashes]


def member_similarity(c: Clustering, extra: dict | None = None) -> np.ndarray:
    """Each text's cosine to its theme's centroid as stored (the mean of its items' vectors,
    with ``extra``'s members outside a window, see window.py)."""
    sim = np.zeros(len(c.X), np.float32)
    vectors, item_labels = c.item_vectors(), c.item_labels
    for lab in set(c.labels.tolist()) - {NOISE}:
        rows = np.flatnonzero(c.labels == lab)
        outside = extra[lab][0] if extra and lab in extra else 0.0
        sim[rows] = c.X[rows] @ unit(vectors[item_labels == lab].sum(axis=0) + outside)
    return sim


def save_clustering(
    con: duckdb.DuckDBPyConnection, c: Clustering, *, run_id: str, label_config: LabelConfig,
    themes_config: ThemesConfig | None = None, min_size: int = 5, member_floor: float = 0.0,
    embed: Embed | None = None, centroids_comparable: bool = True,
) -> dict:
    """Match tonight's full clustering to the stored themes, label it, and store it.

    ``member_floor``: the clusterer's member floor (``ClusterConfig.member_min_similarity``),
    kept after hysteresis and the undoing of unexplained moves put items back where they were:
    an item is only kept in its old theme while it is still that close to it. ``embed``: the
    items' embedding model, which re-ranks the title phrases (label.py).
    ``centroids_comparable``: False when the stored themes were made with another model.
    """
    cfg = themes_config or ThemesConfig()
    stored = load_themes(con, dim=c.X.shape[1], comparable=centroids_comparable)
    previous = previous_assignment(con, c.keys if c.window is not None else None)
    curated = curate(c, stored, cfg, min_size=min_size, member_floor=member_floor)
    identity = identify(c, stored, previous, cfg)
    if cfg.stickiness > 0 and stick_to_previous(c, identity, previous, cfg.stickiness,
                                                min_size=min_size):
        identity = identify(c, stored, previous, cfg)
    settle_unexplained(c, identity, previous)
    if member_floor > 0:
        floored = apply_member_floor(c.X, c.labels, member_floor,
                                     weights=np.bincount(c.item_rows, minlength=len(c.X)))
        if (floored != c.labels).any():
            c.labels = floored
            identity = identify(c, stored, previous, cfg)
    extra = None
    if c.window is not None:  # the items outside the window join the themes (window.py)
        before = c.labels.copy()
        extra = assign_outside(con, c, identity.theme_of, _languages(con, c), floor=member_floor,
                               stickiness=cfg.stickiness)
        if (before != c.labels).any():
            identity = identify(c, stored, previous, cfg)
    c.similarity = member_similarity(c, extra)
    label_ids = sorted(set(c.labels.tolist()) - {NOISE})
    labels = label_themes(c.texts, c.labels, c.similarity, label_config, vectors=c.X, embed=embed,
                          languages=_languages(con, c)) if label_ids else {}
    with transaction(con):
        for lab in identity.new_labels:
            identity.theme_of[lab] = con.execute("SELECT nextval('theme_id_seq')").fetchone()[0]
        events = [(identity.theme_of[t[1]] if isinstance(t, tuple) else t, kind, other, detail)
                  for t, kind, other, detail in identity.events]
        split_parent: dict[int, int] = {}  # a new theme's main parent: its first split_from
        for t, kind, other, _ in identity.events:
            if kind == "split_from" and isinstance(t, tuple):
                split_parent.setdefault(identity.theme_of[t[1]], other)
        write_themes(con, c, identity.theme_of, labels, run_id=run_id, split_parent=split_parent,
                     extra=extra)
        for tid, into in identity.merged.items():
            con.execute("UPDATE themes SET status = 'merged', merged_into = ?, size = 0, "
                        "updated_run = ? WHERE theme_id = ?", [into, run_id, tid])
        if identity.faded:
            con.execute("UPDATE themes SET status = 'faded', size = 0, updated_run = ? "
                        "WHERE list_contains(?, theme_id)", [run_id, identity.faded])
        record_events(con, run_id, events)
        item_theme = np.array([identity.theme_of.get(int(v), NOISE) for v in c.item_labels])
        replace_assignments(con, c, item_theme, run_id=run_id, method="clustered")
        if c.window is not None:
            write_rest(con, identity.theme_of, run_id=run_id)
    n = len(c.item_rows)
    noise = int((item_theme == NOISE).sum()) if n else 0
    if c.window is not None:
        n, noise = n + c.window.stats["items"], noise + c.window.stats["assigned_noise"]
    return {
        "mode": "full",
        "items": n,
        "unique_texts": len(c.texts),
        "themes": len(set(identity.theme_of.values())),
        "noise_items": noise,
        "noise_fraction": round(noise / n, 4) if n else 0.0,
        "new_themes": len(identity.new_labels),
        "faded_themes": len(identity.faded),
        "merged_themes": len(identity.merged),
        **curated,
        **({"window": c.window.stats} if c.window is not None else {}),
    }


def curate(c: Clustering, stored: StoredThemes, cfg: ThemesConfig, *, min_size: int,
           member_floor: float) -> dict:
    """Split mixed clusters and merge duplicate ones (curate.py) before they are matched;
    the two parts of a person's split are never merged again."""
    pos = {t: i for i, t in enumerate(stored.ids)}
    keep_apart = [(stored.C[pos[a]], stored.C[pos[b]]) for a, b in stored.splits
                  if a in pos and b in pos]
    c.labels, stats = curate_themes(
        c.X, c.labels, merge_similarity=cfg.merge_similarity, merge_share=cfg.merge_share,
        merge_exclusivity=cfg.merge_exclusivity, split_share=cfg.split_share, floor=member_floor,
        min_size=min_size, keep_apart=keep_apart, closeness=cfg.match_similarity,
        weights=np.bincount(c.item_rows, minlength=len(c.X)))
    return stats


__all__ = [
    "Identity", "apply_splits", "identify", "match_themes", "save_clustering",
    "settle_unexplained", "stick_to_previous",
]
