"""Themes fit to deliver: one request per theme, and no request in two themes (issue #16).

A clustering's themes are curated before they are matched to last night's, labelled, ranked
and delivered:

1. **split**: a theme whose best two-way partition (2-means on its members) gives two parts
   the merge below would *not* join again is two requests: it is re-clustered within itself
   (the parts become themes; each must keep ``min_size`` items);
2. **merge**: two themes whose members' nearest neighbours lie in the other one at least
   ``merge_share`` of the time (``model.neighbour_share``), whose centroids are at least
   ``merge_similarity`` alike, *and* whose contact is mostly with each other (``exclusivity``
   at least ``merge_exclusivity``, ``pair_scores``) are one request split in two: they are
   joined, unless a person kept them apart (``keep_apart``: the stored centroids of the two
   parts of a person's split; that is how a rejected merge stays rejected);
3. **the member floor** (``model.apply_member_floor``): a merge or a split moves centroids, so
   every member is checked against its theme's new centroid and the far ones become noise.

The merge thresholds were chosen by the precision of its joins over every pair of themes of
six labelled sets (the demo, the train mix, a Banking77 *train* sample, and the three sets of
bench/generalise.py; BENCHMARKS.md "Near-duplicate merge"): shared neighbours tell one request
cut in two from two neighbouring requests best (ROC AUC 0.75-0.83 against 0.60-0.66 for centroid
cosine), and exclusivity keeps a theme that touches several neighbours (a zone of neighbouring
intents) from being joined to one of them. Splitting is off by default (``split_share`` 0): it
did not improve any set. A merge on a
later night is recorded as ``merged_into`` lineage by ``identity.identify`` (a stored theme
whose members went to another theme), which the Jira sink follows.
"""

from __future__ import annotations

import numpy as np

from feedback_pipeline.cluster.corpus import unit
from feedback_pipeline.cluster.model import NOISE, apply_member_floor, neighbour_share, neighbours

NEIGHBOURS = 10


def pair_scores(X: np.ndarray, labels: np.ndarray, knn: np.ndarray) -> dict:
    """{(a, b): (centroid cosine, neighbour share, exclusivity)} for every pair of themes that
    are each other's neighbours (``knn``: each row's nearest rows, self excluded).

    Exclusivity: the pair's neighbour share over the larger of the two themes' contact with
    all other themes (the sum of their shares). One request cut in two touches mostly its other
    half; a theme in a zone of neighbouring requests (the identity-verification intents) touches
    several themes a little each, and its contact with any one of them says little.
    """
    share = neighbour_share(labels, knn)
    if not share:
        return {}
    ids = sorted(set(labels.tolist()) - {NOISE})
    pos = {k: i for i, k in enumerate(ids)}
    C = unit(np.stack([X[labels == k].sum(axis=0) for k in ids]))
    contact: dict[int, float] = {}
    for (a, b), s in share.items():
        contact[a] = contact.get(a, 0.0) + s
        contact[b] = contact.get(b, 0.0) + s
    return {(a, b): (float(C[pos[a]] @ C[pos[b]]), s, s / max(contact[a], contact[b]))
            for (a, b), s in share.items()}


def pair_score(X: np.ndarray, knn: np.ndarray, a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """(centroid cosine, neighbour share) of the groups of rows ``a`` and ``b``, as
    ``pair_scores`` measures two themes."""
    in_a, in_b = np.zeros(len(X), bool), np.zeros(len(X), bool)
    in_a[a], in_b[b] = True, True
    k = knn.shape[1]
    share = in_b[knn[a]].sum() / (2 * k * len(a)) + in_a[knn[b]].sum() / (2 * k * len(b))
    ca, cb = X[a].sum(axis=0), X[b].sum(axis=0)
    return float(ca @ cb / max(np.linalg.norm(ca) * np.linalg.norm(cb), 1e-12)), float(share)


def one_request(score: tuple[float, ...], *, similarity: float, share: float,
                exclusivity: float = 0.0) -> bool:
    """Whether two themes with these (centroid cosine, neighbour share[, exclusivity]) are one
    request."""
    return score[0] >= similarity and score[1] >= share and \
        (len(score) < 3 or score[2] >= exclusivity)


def halves(X: np.ndarray, knn: np.ndarray, rows: np.ndarray, *,
           random_state: int = 0) -> tuple[np.ndarray, float]:
    """A theme's best two-way partition (2-means; ``True`` marks the second half) and how
    intertwined its halves are: their neighbour share (``pair_score``). One request's halves
    are each other's neighbours; two requests' halves are not."""
    from sklearn.cluster import KMeans

    if len(rows) < 4:
        return np.zeros(len(rows), bool), 1.0
    parts = KMeans(n_clusters=2, n_init=3, random_state=random_state).fit_predict(X[rows]) == 1
    if parts.all() or not parts.any():
        return parts, 1.0
    return parts, pair_score(X, knn, rows[~parts], rows[parts])[1]


def _kept_apart(X: np.ndarray, labels: np.ndarray, a: int, b: int,
                keep_apart: list[tuple[np.ndarray, np.ndarray]], closeness: float) -> bool:
    """Whether themes ``a`` and ``b`` are the two parts of a person's split (each at least
    ``closeness`` to one part's stored centroid, and on different sides)."""
    if not keep_apart:
        return False
    ca, cb = unit(X[labels == a].sum(axis=0)), unit(X[labels == b].sum(axis=0))
    for p, q in keep_apart:
        if (ca @ p >= closeness and cb @ q >= closeness) or \
                (ca @ q >= closeness and cb @ p >= closeness):
            return True
    return False


def merge_duplicates(X: np.ndarray, labels: np.ndarray, knn: np.ndarray, *, similarity: float,
                     share: float, exclusivity: float = 0.0, split_share: float = 0.0,
                     keep_apart: list | None = None,
                     closeness: float = 0.8) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """Join themes that are one request (``one_request``), strongest pair first, each theme in
    at most one join (no chains: a chain of look-alikes is how a blob forms). A join whose
    result ``split_mixed`` would split again (halves' share below ``split_share``) is not made.
    Returns (labels, [(absorbed, kept)])."""
    out = labels.copy()
    joined: list[tuple[int, int]] = []
    scores = pair_scores(X, out, knn)
    busy: set[int] = set()
    for _, _, (a, b) in sorted(((s[1], s[0], pair) for pair, s in scores.items()
                                if one_request(s, similarity=similarity, share=share,
                                               exclusivity=exclusivity)),
                               reverse=True):
        if a in busy or b in busy or _kept_apart(X, out, a, b, keep_apart or [], closeness):
            continue
        rows = np.flatnonzero((out == a) | (out == b))
        if split_share > 0 and halves(X, knn, rows)[1] < split_share:
            continue
        big, small = (a, b) if (out == a).sum() >= (out == b).sum() else (b, a)
        out[out == small] = big
        joined.append((small, big))
        busy |= {a, b}
    return out, joined


def split_mixed(X: np.ndarray, labels: np.ndarray, knn: np.ndarray, *, split_share: float,
                min_size: int) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """Split each theme whose halves (``halves``, both at least ``min_size`` texts) have a
    neighbour share below ``split_share``: two requests. Returns (labels, [(theme, new part)])."""
    out = labels.copy()
    split: list[tuple[int, int]] = []
    next_label = int(out.max()) + 1 if len(out) else 0
    for k in sorted(set(labels.tolist()) - {NOISE}):
        rows = np.flatnonzero(out == k)
        if len(rows) < 2 * min_size:
            continue
        second, intertwined = halves(X, knn, rows)
        if min(second.sum(), (~second).sum()) < min_size or intertwined >= split_share:
            continue
        out[rows[second]] = next_label
        split.append((k, next_label))
        next_label += 1
    return out, split


def curate_themes(X: np.ndarray, labels: np.ndarray, *, merge_similarity: float,
                  merge_share: float, split_share: float, floor: float, min_size: int,
                  merge_exclusivity: float = 0.0,
                  keep_apart: list | None = None, closeness: float = 0.8,
                  weights: np.ndarray | None = None) -> tuple[np.ndarray, dict]:
    """Split mixed themes, merge duplicate ones, keep the member floor (module docstring).

    ``merge_share`` above 1 turns merging off, ``split_share`` 0 splitting.
    Returns (labels, counts of what was done).
    """
    stats = {"split_themes": 0, "merged_duplicates": 0}
    if (merge_share > 1.0 and split_share <= 0) or not (labels != NOISE).any():
        return labels, stats
    knn, _ = neighbours(np.asarray(X, np.float32), NEIGHBOURS + 1)
    knn = knn[:, 1:]
    out = labels
    if split_share > 0:
        out, parts = split_mixed(X, out, knn, split_share=split_share, min_size=min_size)
        stats["split_themes"] = len(parts)
    if merge_share <= 1.0:
        out, joined = merge_duplicates(X, out, knn, similarity=merge_similarity,
                                       share=merge_share, exclusivity=merge_exclusivity,
                                       split_share=split_share,
                                       keep_apart=keep_apart, closeness=closeness)
        stats["merged_duplicates"] = len(joined)
    out = apply_member_floor(X, out, floor, weights=weights, min_size=min_size)
    return out, stats


__all__ = ["curate_themes", "halves", "merge_duplicates", "one_request", "pair_score",
           "pair_scores", "split_mixed"]
