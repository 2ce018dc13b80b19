"""The nightly incremental path: keep themes, place what is new, re-cluster only the remainder.

On most nights re-clustering the whole warehouse is wasted work (and reshuffles themes). Instead:

1. items that are new or edited since they were last placed are assigned to the nearest live
   theme when their cosine similarity to its centroid is at least ``assign_min_similarity`` and
   beats the runner-up by ``assign_margin``;
2. the rest, together with the items that were noise in the last ``recent_window_days``, are
   clustered on their own; a cluster close to an existing theme joins it, others become new themes.
   With an English-only model both steps run per language group (languages.py), as a full
   re-cluster does: a theme's group is that of most of its members;
3. the centroids of the themes that grew are updated from their stored vector sums.

A full re-cluster (``identity.save_clustering``) runs every ``full_recluster_every_days`` or on
demand; it refreshes every label and catches drift the incremental path cannot see.
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import duckdb
import numpy as np
import pyarrow as pa

from feedback_pipeline.clean.languages import PRIMARY
from feedback_pipeline.cluster.config import ClusterConfig, LabelConfig, ThemesConfig
from feedback_pipeline.cluster.corpus import Clustering, load_corpus, text_languages, unit
from feedback_pipeline.cluster.identity import match_themes
from feedback_pipeline.cluster.label import Embed, label_themes
from feedback_pipeline.cluster.languages import language_groups, rows_by_group
from feedback_pipeline.cluster.model import (
    NOISE,
    ThemeClusterer,
    assign_to_nearest,
    min_cluster_size_for,
)
from feedback_pipeline.cluster.store import (
    StoredThemes,
    load_themes,
    previous_assignment,
    record_events,
    replace_assignments,
    write_themes,
)
from feedback_pipeline.warehouse.db import arrow_query, transaction, vectors_to_numpy

PENDING = """
    NOT EXISTS (SELECT 1 FROM item_themes t WHERE t.source = i.source
                AND t.external_id = i.external_id AND t.text_hash = i.text_hash)
"""
RECENT_NOISE = """
    EXISTS (SELECT 1 FROM item_themes t WHERE t.source = i.source AND t.external_id = i.external_id
            AND t.text_hash = i.text_hash AND t.theme_id = -1 AND i.created_at >= $since)
"""
log = logging.getLogger(__name__)


def last_full_clustering(con: duckdb.DuckDBPyConnection) -> tuple[datetime | None, str | None]:
    """When (in data time) the last completed full clustering ran, and with which embedding
    model (None for a run recorded before runs named their model)."""
    row = con.execute(
        "SELECT coalesce(TRY_CAST(json_extract_string(stats, '$.cluster.as_of') AS TIMESTAMPTZ),"
        " started_at) AS clustered_at, json_extract_string(stats, '$.cluster.model') FROM runs "
        "WHERE status = 'completed' AND json_extract_string(stats, '$.cluster.mode') = 'full' "
        "ORDER BY clustered_at DESC NULLS LAST LIMIT 1").fetchone()
    return (row[0], row[1]) if row else (None, None)


def needs_full_recluster(con: duckdb.DuckDBPyConnection, config: ThemesConfig,
                         now: datetime | None = None, model_id: str | None = None) -> bool:
    """True when no full clustering exists yet, the last one is older than the schedule, or it
    was made with another embedding model than ``model_id`` (the stored centroids live in that
    model's space: new vectors cannot be matched to them).

    Age is measured in data time (each run's ``as_of``), so a backfill re-clusters on the same
    schedule a nightly deployment would have. A full run recorded before runs named their model
    counts as made with the current one.
    """
    if config.full_recluster_every_days <= 0:
        return True
    if not con.execute("SELECT count(*) FROM themes").fetchone()[0]:
        return True
    at, model = last_full_clustering(con)
    if at is None:
        return True
    if model_id is not None and model is not None and model != model_id:
        log.info("the themes were made with embedding model %s, this run embeds with %s: "
                 "full re-cluster", model, model_id)
        return True
    now = now or datetime.now(UTC)
    return now - at >= timedelta(days=config.full_recluster_every_days)


def _subset(c: Clustering, item_mask: np.ndarray) -> Clustering:
    rows = np.unique(c.item_rows[item_mask])
    remap = {int(r): i for i, r in enumerate(rows)}
    keys = [k for k, m in zip(c.keys, item_mask, strict=True) if m]
    urls = [u for u, m in zip(c.urls, item_mask, strict=True) if m]
    return Clustering(keys, urls, np.array([remap[int(r)] for r in c.item_rows[item_mask]],
                                           dtype=np.int64),
                      [c.texts[r] for r in rows], [c.text_hashes[r] for r in rows], c.X[rows],
                      c.labels[rows].copy(), c.similarity[rows].copy())


def update_incrementally(
    con: duckdb.DuckDBPyConnection, model_id: str, *, run_id: str, cluster_config: ClusterConfig,
    themes_config: ThemesConfig, label_config: LabelConfig, as_of: datetime,
    split_languages: bool = True, embed: Embed | None = None,
) -> dict:
    """One incremental night; ``split_languages`` keeps each language group to its own themes
    (right for an English-only model, as in a full re-cluster: see languages.py); ``embed``
    re-ranks new themes' title phrases (label.py)."""
    since = as_of - timedelta(days=themes_config.recent_window_days)
    # Every kept item so far, and those new or edited since they were last placed.
    total, fresh = con.execute(
        f"SELECT count(*), count(*) FILTER (WHERE {PENDING}) FROM items i "
        "WHERE i.drop_reason IS NULL AND i.created_at <= ?", [as_of]).fetchone()
    stats = {"mode": "incremental", "items": total, "pending": 0, "assigned": 0,
             "reclustered": 0, "new_themes": 0, "joined_existing": 0, "faded_themes": 0,
             "merged_themes": 0}
    # Recent noise is only worth another look next to something new: with nothing new it was
    # clustered on exactly these texts before, and a rerun must not change the themes (nor
    # load their vectors).
    if not fresh:
        return _finish(con, stats)
    c = load_corpus(con, model_id, where=f"i.created_at <= $until AND (({PENDING}) OR ({RECENT_NOISE}))",
                    params={"since": since, "until": as_of})
    stats["pending"] = len(c.keys)
    if not len(c.keys):
        return _finish(con, stats)
    stored = load_themes(con)
    live = [i for i, t in enumerate(stored.ids) if stored.status[t] in ("active", "rejected")
            or t in stored.target]
    ids = np.array([stored.ids[i] for i in live], dtype=np.int64)
    C = stored.C[live] if live else np.zeros((0, c.X.shape[1]), np.float32)
    # A multilingual model puts every language in one space: then all is one group.
    if split_languages:
        # Only tonight's texts: the warehouse's other languages are not needed here.
        language = text_languages(con, c.text_hashes)
        text_group = np.array(language_groups([language.get(h) for h in c.text_hashes]), object)
        theme_group = _theme_groups(con, stored, ids)
        stats["languages"] = dict(Counter(text_group.tolist()).most_common())
    else:
        text_group = np.full(len(c.X), PRIMARY, object)
        theme_group = np.full(len(ids), PRIMARY, object)

    min_size = min_cluster_size_for(total, cluster_config)
    cfg = cluster_config.model_copy(update={"min_cluster_size": min_size})
    events: list[tuple] = []
    new_labels: dict = {}
    for group, rows in rows_by_group(text_group):
        same = theme_group == group
        # 1. Confident assignment of the group's pending/recent-noise texts to an existing theme
        #    of the same group.
        assigned, sim = assign_to_nearest(
            c.X[rows], ids[same], C[same], min_similarity=themes_config.assign_min_similarity,
            margin=themes_config.assign_margin)
        c.labels[rows] = [stored.resolve(int(t)) if t != NOISE else NOISE for t in assigned]
        c.similarity[rows] = sim
        # 2. The group's remainder is clustered on its own, with the corpus-wide minimum
        #    cluster size.
        rest = (c.item_labels == NOISE) & np.isin(c.item_rows, rows)
        if rest.sum() >= 2 * min_size:
            new_labels.update(_cluster_rest(
                con, c, rest, cfg, ids[same], C[same], stored=stored, stats=stats, events=events,
                themes_config=themes_config, label_config=label_config, embed=embed))

    stats["below_floor"], bounds = keep_floor(con, c, cluster_config.member_min_similarity,
                                              new=set(new_labels), model_id=model_id)
    for t in [t for t in new_labels if not (c.labels == t).any()]:
        del new_labels[t]  # every member fell below the floor
        events = [e for e in events if e[0] != t]
    for t, lbl in new_labels.items():  # a quote that fell below the floor is no member
        new_labels[t] = replace(lbl, quote_indices=[r for r in lbl.quote_indices
                                                    if c.labels[r] == t])
    item_theme = c.item_labels
    stats["assigned"] = int((item_theme != NOISE).sum()) - sum(
        int((item_theme == t).sum()) for t in new_labels)
    with transaction(con):
        if new_labels:
            # write_themes works on cluster labels; here the labels already are theme ids.
            write_themes(con, c, {t: t for t in new_labels}, new_labels, run_id=run_id)
        grow_themes(con, c, item_theme, exclude=set(new_labels), run_id=run_id, bounds=bounds)
        record_events(con, run_id, events)
        replace_assignments(con, c, item_theme, run_id=run_id, method="assigned", only_these=True)
    stats["new_themes"] = len(new_labels)
    return _finish(con, stats)


def _theme_groups(con: duckdb.DuckDBPyConnection, stored: StoredThemes,
                  ids: np.ndarray) -> np.ndarray:
    """The language group of each theme in ``ids``: the one most of its members are in.

    A theme people merged away has no members left and takes the group of the theme it went
    into; a theme without members counts as English, the group the default model was made for.
    """
    counts: dict[int, Counter] = defaultdict(Counter)
    for theme_id, language, n in con.execute(
            "SELECT t.theme_id, i.language, count(*) FROM item_themes t JOIN items i "
            "USING (source, external_id) WHERE t.theme_id != -1 AND i.drop_reason IS NULL "
            "GROUP BY ALL ORDER BY ALL").fetchall():
        counts[theme_id][language_groups([language])[0]] += n
    majority = {t: n.most_common(1)[0][0] for t, n in counts.items()}
    return np.array([majority.get(stored.resolve(int(t)), PRIMARY) for t in ids], object)


def _cluster_rest(
    con: duckdb.DuckDBPyConnection, c: Clustering, rest: np.ndarray, cfg: ClusterConfig,
    ids: np.ndarray, C: np.ndarray, *, stored: StoredThemes, stats: dict, events: list[tuple],
    themes_config: ThemesConfig, label_config: LabelConfig, embed: Embed | None = None,
) -> dict:
    """Cluster the items ``rest`` of ``c``; a cluster close to one of the themes ``ids`` joins
    it, the others get new theme ids. Writes the theme ids into ``c``; returns the new themes'
    labels by theme id."""
    sub = _subset(c, rest)
    model = ThemeClusterer(cfg, allow_single_cluster=True).fit(sub.X)
    sub.labels, sub.similarity = model.labels_, model.similarity_
    found = sorted(set(sub.labels.tolist()) - {NOISE})
    stats["reclustered"] += int(rest.sum())
    if not found:
        return {}
    sub_C = np.stack([unit(sub.X[sub.labels == k].mean(axis=0)) for k in found])
    joins = match_themes(np.array(found), sub_C, ids.tolist(), C, themes_config.match_similarity)
    # A cluster that joins a theme joins it item by item: each member must clear the floor
    # against that theme's centroid, or it stays noise (a diffuse cluster whose mean happens to
    # look like a theme must not pour its members into it).
    col = {int(t): j for j, t in enumerate(ids.tolist())}
    for k, (tid, _) in joins.items():
        rows = np.flatnonzero(sub.labels == k)
        sim = sub.X[rows] @ C[col.get(stored.resolve(tid), col[tid])]
        sub.similarity[rows] = sim
        sub.labels[rows[sim < cfg.member_min_similarity]] = NOISE
    found = [k for k in found if (sub.labels == k).any()]
    joins = {k: v for k, v in joins.items() if k in found}
    language = text_languages(con, sub.text_hashes)
    labels = label_themes(sub.texts, sub.labels, sub.similarity, label_config, vectors=sub.X,
                          embed=embed, languages=[language.get(h) for h in sub.text_hashes])
    theme_of: dict[int, int] = {}
    for k in found:
        if k in joins:
            theme_of[k] = stored.resolve(joins[k][0])
            stats["joined_existing"] += 1
        else:
            theme_of[k] = con.execute("SELECT nextval('theme_id_seq')").fetchone()[0]
            events.append((theme_of[k], "created", None, "incremental"))
    # Carry the sub-clustering back into c (texts of c that are in sub).
    pos = {h: i for i, h in enumerate(sub.text_hashes)}
    for r, h in enumerate(c.text_hashes):
        if h in pos and sub.labels[pos[h]] != NOISE:
            c.labels[r] = theme_of[int(sub.labels[pos[h]])]
            c.similarity[r] = sub.similarity[pos[h]]
    # Labels index sub's texts; the themes are written from c, so point the quotes at c's rows.
    row_in_c = {h: r for r, h in enumerate(c.text_hashes)}
    return {theme_of[k]: replace(labels[k], quote_indices=[
        row_in_c[sub.text_hashes[r]] for r in labels[k].quote_indices])
        for k in found if k not in joins}


def keep_floor(con: duckdb.DuckDBPyConnection, c: Clustering, floor: float, *,
               new: set[int], model_id: str) -> tuple[int, dict[int, float]]:
    """Tonight's texts that the themes' updated centroids leave below ``floor`` become noise.

    The centroid a theme will have after tonight (its stored vector sum plus tonight's members,
    as ``grow_themes`` computes it; for a new theme its members alone) is what the floor is
    checked against, repeated until no text of tonight is below it. Tonight's members also move
    the centroid away from the theme's earlier members: when one of those would end up below
    the floor, tonight's least similar member of that theme stays out instead (earlier members
    keep their theme on incremental nights).

    Earlier members are not reloaded when the theme's stored ``member_bound`` (a lower bound of
    their cosine to the stored centroid, valid while the theme's size is the one it was taken
    at) minus the centroid's move still clears the floor: a unit vector's cosine drops by at
    most the distance the centroid moved. Only a theme without a valid bound, or one that moved
    too far, has its earlier members' vectors read (Arrow, that theme only), so a night costs
    what is new, not the warehouse. Returns the texts dropped and each touched theme's new
    bound (for ``grow_themes``).
    """
    placed = previous_assignment(con, c.keys)
    table = arrow_query(con, "SELECT theme_id, vector_sum, CASE WHEN member_bound_size = size "
                        "THEN member_bound END AS bound FROM themes WHERE vector_sum IS NOT NULL",
                        {})
    sums = vectors_to_numpy(table["vector_sum"])
    stored = dict(zip(table["theme_id"].to_pylist(), sums, strict=True))
    bound = {t: b for t, b in zip(table["theme_id"].to_pylist(), table["bound"].to_pylist(),
                                  strict=True) if b is not None}
    vectors = c.item_vectors()
    old: dict[int, np.ndarray] = {}  # earlier members' vectors of themes the bound did not clear
    dropped = 0
    while True:
        item_theme = c.item_labels
        totals: dict[int, np.ndarray] = {}
        for i, (key, t) in enumerate(zip(c.keys, item_theme.tolist(), strict=True)):
            if t == NOISE:
                continue
            if t not in totals:
                totals[t] = np.zeros(c.X.shape[1], np.float32) if t in new \
                    else stored.get(t, np.zeros(c.X.shape[1], np.float32)).copy()
            if placed.get(key) != t or t in new:
                totals[t] += vectors[i]
        rows = np.flatnonzero(c.labels != NOISE)
        if not len(rows):
            return dropped, {}
        sim = np.array([float(c.X[r] @ unit(totals[int(c.labels[r])])) for r in rows])
        c.similarity[rows] = sim
        below = rows[sim < floor]
        earliest: dict[int, float] = {}
        if not len(below):
            # Every member of tonight clears the floor; now the earlier members.
            for t in sorted(set(totals) - new):
                moved = float(np.linalg.norm(unit(totals[t]) - unit(stored[t]))) \
                    if t in stored else 2.0
                if t in bound and t not in old and bound[t] - moved >= floor:
                    earliest[t] = bound[t] - moved
                    continue
                if t not in old:
                    old[t] = _earlier_members(con, t, c.keys, model_id)
                earliest[t] = float((old[t] @ unit(totals[t])).min()) if len(old[t]) else 1.0
                if earliest[t] < floor:
                    mine = rows[(c.labels[rows] == t) & np.array(
                        [placed.get(c.keys[i]) != t for i in _first_items(c, rows)])]
                    if len(mine):
                        below = mine[[int(np.argmin(c.similarity[mine]))]]
                        break
        if not len(below):
            members = c.labels[rows]
            return dropped, {t: min(earliest.get(t, 1.0), float(sim[members == t].min()))
                             for t in earliest}
        c.labels[below] = NOISE
        c.similarity[below] = 0.0
        dropped += len(below)


def _earlier_members(con: duckdb.DuckDBPyConnection, theme_id: int, tonight: list,
                     model_id: str) -> np.ndarray:
    """The vectors of a theme's members placed before tonight (not among ``tonight``'s keys)."""
    con.register("tonight_keys", pa.table({"source": [k[0] for k in tonight],
                                           "external_id": [k[1] for k in tonight]}))
    try:
        table = arrow_query(
            con, "SELECT e.vector FROM item_themes it JOIN embeddings e ON e.text_hash = "
            "it.text_hash AND e.model = $model WHERE it.theme_id = $theme AND NOT EXISTS (SELECT 1 "
            "FROM tonight_keys k WHERE k.source = it.source AND k.external_id = it.external_id)",
            {"model": model_id, "theme": theme_id})
    finally:
        con.unregister("tonight_keys")
    return vectors_to_numpy(table["vector"])


def _first_items(c: Clustering, rows: np.ndarray) -> list[int]:
    """An item of each text row (the first), to look up where it was placed before."""
    first: dict[int, int] = {}
    for i, r in enumerate(c.item_rows.tolist()):
        first.setdefault(r, i)
    return [first[int(r)] for r in rows]


def grow_themes(con: duckdb.DuckDBPyConnection, c: Clustering, item_theme: np.ndarray, *,
                exclude: set[int], run_id: str, bounds: dict[int, float] | None = None) -> None:
    """Add newly placed items' vectors to their themes' sums (removing what they replaced);
    ``bounds``: the grown themes' new member bounds (``keep_floor``)."""
    previous = previous_assignment(con, c.keys)
    vectors = c.item_vectors()
    delta: dict[int, np.ndarray] = {}
    count: dict[int, int] = {}
    for i, (key, t) in enumerate(zip(c.keys, item_theme.tolist(), strict=True)):
        old = previous.get(key)
        if old == t:
            continue  # recent noise that is still noise, or unchanged
        if t != NOISE and t not in exclude:
            delta[t] = delta.get(t, 0) + vectors[i]
            count[t] = count.get(t, 0) + 1
    for tid, add in delta.items():
        row = con.execute("SELECT vector_sum, size FROM themes WHERE theme_id = ?", [tid]).fetchone()
        total = np.asarray(row[0], dtype=np.float32) + add
        con.execute("UPDATE themes SET vector_sum = ?, centroid = ?, size = ?, updated_run = ?, "
                    "member_bound = ?, member_bound_size = ? WHERE theme_id = ?",
                    [total.tolist(), unit(total).tolist(), (row[1] or 0) + count[tid], run_id,
                     (bounds or {}).get(tid), (row[1] or 0) + count[tid], tid])


def _finish(con: duckdb.DuckDBPyConnection, stats: dict) -> dict:
    live = con.execute("SELECT count(*) FROM themes WHERE status = 'active'").fetchone()[0]
    noise = con.execute("SELECT count(*) FROM item_themes WHERE theme_id = -1").fetchone()[0]
    placed = con.execute("SELECT count(*) FROM item_themes").fetchone()[0]
    stats.update(themes=live, noise_items=noise,
                 noise_fraction=round(noise / placed, 4) if placed else 0.0)
    return stats


__all__ = ["keep_floor", "last_full_clustering", "needs_full_recluster", "update_incrementally"]
