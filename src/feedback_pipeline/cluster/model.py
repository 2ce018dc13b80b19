"""Clustering: reduce, HDBSCAN, then a careful second pass.

``ThemeClusterer.fit(X)`` follows scikit-learn's conventions (``fit`` returns self, fitted state
ends in ``_``) and takes L2-normalised embeddings. Steps, each measured on Banking77's train split
(BENCHMARKS.md):

1. reduce with UMAP (cosine, ``n_components`` dims) - HDBSCAN on raw 384-d vectors is both slow
   and leaves half the items as noise;
2. HDBSCAN; ``min_cluster_size`` scales with the data (``min_cluster_fraction``) so a forum of 500
   posts and a desk of 50k tickets both get sensible themes (``cluster_selection_epsilon`` can
   keep clusters split closer than it as one; off by default, see config.py);
3. a second pass for HDBSCAN's noise (about a tenth of the items): each noise item takes the
   theme most of its ``reassign_neighbours`` nearest clustered items hold in the reduced space,
   where the themes were found - that follows a theme's shape better than its centroid does
   (NMI 0.813 against 0.801 on the 10k Banking77 train split, bench/tune_cluster.py). It joins
   only when its cosine similarity to that theme's centroid (in the original space) clears
   ``reassign_min_similarity``; otherwise, or with ``reassign_neighbours = 0``, it joins its
   nearest centroid if that clears the same floor by ``reassign_margin`` over the runner-up.
   The rest stay noise (-1);
4. near-duplicates (cosine >= ``duplicate_similarity``) are forced into one theme;
5. two clusters whose members have at least ``merge_neighbour_share`` of their nearest
   neighbours in the other are one request HDBSCAN split in two (a duplicate theme on a PM's
   list): they are joined (off by default); so are two clusters whose centroids in the reduced
   space are closer than ``merge_reduced_distance`` (on: the best join measured);
6. the member floor: no member of a theme is less than ``member_min_similarity`` (cosine) from
   its theme's centroid. Members below it become noise and the centroids are recomputed until
   none is (``apply_member_floor``); a theme that falls under ``min_cluster_size`` dissolves.
   Every other path that places items (incremental.py, identity.py) keeps the same floor;
7. what is still noise is clustered among itself (``recluster_leftovers``): items a broad theme
   shed to the floor are often a smaller request together; the floor applies to those too.
"""

from __future__ import annotations

import logging
import warnings

import numpy as np

from feedback_pipeline.cluster.config import ClusterConfig

log = logging.getLogger(__name__)
NOISE = -1


def min_cluster_size_for(n: int, config: ClusterConfig) -> int:
    """The minimum theme size for ``n`` items: a share of at most the window (``window_size``),
    so a bigger warehouse does not make themes coarser (issue #17)."""
    if config.min_cluster_size:
        return config.min_cluster_size
    if config.window_size:
        n = min(n, config.window_size)
    return max(5, int(round(config.min_cluster_fraction * n)))


EXACT_KNN_MAX = 20_000


def neighbours(X: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """k nearest neighbours by cosine: indices and similarities (approximate on large inputs)."""
    k = min(k, len(X))
    if len(X) > EXACT_KNN_MAX:
        from pynndescent import NNDescent  # ships with umap-learn

        idx, dist = NNDescent(X, metric="cosine", n_neighbors=k, random_state=0).neighbor_graph
        return idx, (1.0 - dist).astype(np.float32)
    idx = np.empty((len(X), k), dtype=np.int64)
    sim = np.empty((len(X), k), dtype=np.float32)
    for start in range(0, len(X), 2048):
        s = X[start : start + 2048] @ X.T
        part = np.argpartition(-s, k - 1, axis=1)[:, :k]
        ps = np.take_along_axis(s, part, axis=1)
        order = np.argsort(-ps, axis=1)
        idx[start : start + len(s)] = np.take_along_axis(part, order, axis=1)
        sim[start : start + len(s)] = np.take_along_axis(ps, order, axis=1)
    return idx, sim


def duplicate_groups(knn_idx: np.ndarray, knn_sim: np.ndarray, threshold: float) -> np.ndarray:
    """Union-find over kNN pairs at or above ``threshold``: a group id per row."""
    parent = np.arange(len(knn_idx))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    rows, cols = np.nonzero(knn_sim >= threshold)
    for r, c in zip(rows, cols, strict=True):
        a, b = find(r), find(int(knn_idx[r, c]))
        if a != b:
            parent[max(a, b)] = min(a, b)
    return np.array([find(i) for i in range(len(parent))])


def centroids(X: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unit-length mean vector per non-noise label: (label ids, matrix)."""
    ids = np.array(sorted(set(labels.tolist()) - {NOISE}), dtype=np.int64)
    if not len(ids):
        return ids, np.zeros((0, X.shape[1]), dtype=np.float32)
    C = np.stack([X[labels == k].mean(axis=0) for k in ids])
    C /= np.maximum(np.linalg.norm(C, axis=1, keepdims=True), 1e-12)
    return ids, C.astype(np.float32)


def assign_to_nearest(
    X: np.ndarray, ids: np.ndarray, C: np.ndarray, *, min_similarity: float, margin: float
) -> tuple[np.ndarray, np.ndarray]:
    """Nearest centroid per row if it is close enough and clearly closest, else NOISE."""
    if not len(ids):
        return np.full(len(X), NOISE), np.zeros(len(X), dtype=np.float32)
    S = X @ C.T
    best = S.argmax(axis=1)
    top = S[np.arange(len(X)), best]
    second = np.partition(S, -2, axis=1)[:, -2] if len(ids) > 1 else np.full(len(X), -1.0)
    ok = (top >= min_similarity) & (top - second >= margin)
    return np.where(ok, ids[best], NOISE), top.astype(np.float32)


def apply_member_floor(
    X: np.ndarray, labels: np.ndarray, floor: float, *, weights: np.ndarray | None = None,
    min_size: int = 1,
) -> np.ndarray:
    """Labels in which every member is at least ``floor`` (cosine) from its theme's centroid.

    Members below the floor become NOISE; removing them moves the centroid, so this repeats
    until no member is below (it ends: every round only removes). ``weights`` counts the items
    behind each row (a text several items share), as the stored centroid does; a theme left
    with fewer than ``min_size`` items dissolves into noise.
    """
    out = labels.copy()
    w = np.ones(len(X), np.float32) if weights is None else np.asarray(weights, np.float32)
    while True:
        member = np.flatnonzero(out != NOISE)
        if not len(member):
            return out
        ids, inverse = np.unique(out[member], return_inverse=True)
        sums = np.zeros((len(ids), X.shape[1]), np.float64)
        np.add.at(sums, inverse, X[member] * w[member, None])
        C = sums / np.maximum(np.linalg.norm(sums, axis=1, keepdims=True), 1e-12)
        sim = np.einsum("ij,ij->i", X[member], C[inverse])
        below = sim < floor
        size = np.bincount(inverse, weights=w[member] * ~below, minlength=len(ids))
        small = (size < min_size)[inverse] & ~below
        if not below.any() and not small.any():
            return out
        out[member[below | small]] = NOISE


def neighbour_share(labels: np.ndarray, knn_idx: np.ndarray) -> dict[tuple[int, int], float]:
    """For each pair of clusters whose members are near neighbours of each other: the share of
    their members' nearest neighbours (``knn_idx``, self excluded) that lie in the other
    cluster, the mean of both directions."""
    member = labels != NOISE
    ids, size = np.unique(labels[member], return_counts=True)
    count = dict(zip(ids.tolist(), size.tolist(), strict=True))
    k = knn_idx.shape[1]
    rows = np.repeat(np.flatnonzero(member), k)
    other = labels[knn_idx[member].ravel()]
    cross = (other != NOISE) & (other != labels[rows])
    pairs: dict[tuple[int, int], int] = {}
    for a, b in zip(labels[rows][cross].tolist(), other[cross].tolist(), strict=True):
        pairs[(a, b)] = pairs.get((a, b), 0) + 1
    out: dict[tuple[int, int], float] = {}
    for (a, b), n in pairs.items():
        key = (min(a, b), max(a, b))
        out[key] = out.get(key, 0.0) + n / (2 * k * count[a])
    return out


def merge_neighbouring_clusters(labels: np.ndarray, knn_idx: np.ndarray,
                                threshold: float) -> np.ndarray:
    """Join clusters whose members' nearest neighbours are at least ``threshold`` in the other
    one (``neighbour_share``): one request HDBSCAN split in two. Measured on Banking77's train
    split, this tells two clusters of one intent from two of neighbouring intents far better
    than centroid similarity does (ROC AUC 0.84 against 0.75, BENCHMARKS.md)."""
    if threshold > 1.0:
        return labels
    shares = sorted(neighbour_share(labels, knn_idx).items())
    return join_clusters(labels, [pair for pair, share in shares if share >= threshold])


def merge_close_in_reduced_space(Z: np.ndarray, labels: np.ndarray,
                                 threshold: float) -> np.ndarray:
    """Join clusters whose centroids in the reduced space (``Z``, where HDBSCAN found them)
    are less than ``threshold`` apart (0: off): the two sides of a shallow density dip that
    HDBSCAN cut into two leaves of one request. Closest pair first, and a joined cluster's
    centroid is that of all its members, so a row of look-alikes does not chain into a blob
    through its middle (a join of every close pair did: fewer themes, no better NMI). On
    Banking77's train split (bench/tune_cluster.py, stage 4) this is the best label-free join
    of over-split clusters measured."""
    if threshold <= 0:
        return labels
    ids = np.array(sorted(set(labels.tolist()) - {NOISE}), dtype=np.int64)
    if len(ids) < 2:
        return labels
    member = labels != NOISE
    pos = np.searchsorted(ids, labels[member])
    sums = np.zeros((len(ids), Z.shape[1]), np.float64)
    np.add.at(sums, pos, Z[member])
    count = np.bincount(pos, minlength=len(ids)).astype(np.float64)
    centre = sums / count[:, None]
    gap = np.linalg.norm(centre[:, None, :] - centre[None, :, :], axis=2)
    np.fill_diagonal(gap, np.inf)
    into = np.arange(len(ids))
    while True:
        a, b = np.unravel_index(int(gap.argmin()), gap.shape)
        if gap[a, b] >= threshold:
            break
        a, b = min(a, b), max(a, b)  # the smaller id is kept
        sums[a] += sums[b]
        count[a] += count[b]
        count[b] = 0
        into[into == b] = a
        alive = count > 0
        row = np.full(len(ids), np.inf)
        row[alive] = np.linalg.norm(sums[alive] / count[alive, None] - sums[a] / count[a], axis=1)
        row[a] = np.inf
        gap[b, :] = gap[:, b] = np.inf
        gap[a, :] = gap[:, a] = row
    out = labels.copy()
    out[member] = ids[into[pos]]
    return out


def join_clusters(labels: np.ndarray, pairs: list[tuple[int, int]]) -> np.ndarray:
    """Labels with every pair of clusters in ``pairs`` joined (transitively, union-find); a
    joined cluster keeps the smaller id."""
    parent = {k: k for k in set(labels.tolist()) - {NOISE}}

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for a, b in pairs:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    return np.array([find(int(k)) if k != NOISE else NOISE for k in labels], dtype=labels.dtype)


def assign_by_neighbours(
    X: np.ndarray, Z: np.ndarray, labels: np.ndarray, *, k: int, min_similarity: float,
    margin: float,
) -> np.ndarray:
    """Second pass for noise rows of ``labels`` (see the module docstring); returns new labels.

    ``X`` holds the unit-length embeddings, ``Z`` the reduced vectors HDBSCAN clustered.
    """
    out = labels.copy()
    noise, member = np.flatnonzero(labels == NOISE), np.flatnonzero(labels != NOISE)
    ids, C = centroids(X, labels)
    if not len(noise) or not len(ids):
        return out
    fallback, _ = assign_to_nearest(X[noise], ids, C, min_similarity=min_similarity,
                                    margin=margin)
    if k <= 0:
        out[noise] = fallback
        return out
    from sklearn.neighbors import NearestNeighbors

    k = min(k, len(member))
    _, nearest = NearestNeighbors(n_neighbors=k).fit(Z[member]).kneighbors(Z[noise])
    votes = labels[member][nearest]  # (noise rows, k), nearest first
    pos = np.searchsorted(ids, votes)
    # Each vote's support among the k (k x k per row, not rows x themes: memory stays small);
    # argmax takes the nearest neighbour among the most supported, which settles ties.
    support = (pos[:, :, None] == pos[:, None, :]).sum(axis=2)
    choice = pos[np.arange(len(noise)), support.argmax(axis=1)]
    close = np.einsum("ij,ij->i", X[noise], C[choice]) >= min_similarity
    out[noise] = np.where(close, ids[choice], fallback)
    return out


def recluster_leftovers(X: np.ndarray, Z: np.ndarray, labels: np.ndarray, *, min_size: int,
                        floor: float) -> np.ndarray:
    """Step 7: the items left as noise (mostly those the member floor took out of a theme they
    were not close to) clustered among themselves, in the reduced space, into themes of their
    own; the floor applies to those too. Short forum titles of one intent are diffuse, so a
    broad theme sheds a fifth of its members to the floor, and many of them are a smaller
    request together (Stack Exchange posts: noise 19.5% -> 11.6%, BENCHMARKS.md)."""
    import hdbscan

    noise = np.flatnonzero(labels == NOISE)
    if len(noise) < max(2 * min_size, 10):
        return labels
    # Never one cluster of all leftovers: a diffuse remainder made one is how issue #16 began.
    sub = hdbscan.HDBSCAN(min_cluster_size=min_size).fit(Z[noise]).labels_
    if not (sub != NOISE).any():
        return labels
    out = labels.copy()
    out[noise] = np.where(sub != NOISE, sub + out.max() + 1, NOISE)
    return apply_member_floor(X, out, floor, min_size=min_size)


class ThemeClusterer:
    """Groups embeddings into themes; noise stays -1."""

    def __init__(self, config: ClusterConfig | None = None, *,
                 allow_single_cluster: bool = False) -> None:
        self.config = config or ClusterConfig()
        # The nightly remainder may hold just one new topic; a whole corpus never is one theme.
        self.allow_single_cluster = allow_single_cluster

    def reduce(self, X: np.ndarray) -> np.ndarray:
        cfg = self.config
        n_comp = min(cfg.n_components, max(2, len(X) - 2))
        if cfg.reducer == "none":
            return X
        if cfg.reducer == "pca":
            from sklearn.decomposition import PCA

            return PCA(n_components=n_comp, random_state=cfg.random_state).fit_transform(X)
        import umap  # lazily: numba JIT costs ~15 s on first use

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # n_jobs/random_state notice
            reducer = umap.UMAP(
                n_components=n_comp,
                n_neighbors=min(cfg.umap_neighbors, len(X) - 1),
                min_dist=0.0,
                metric="cosine",
                random_state=cfg.random_state,
                low_memory=True,
            )
            return reducer.fit_transform(X)

    def fit(self, X: np.ndarray, *, reduced: np.ndarray | None = None) -> ThemeClusterer:
        """``reduced``: ``reduce(X)`` computed earlier, so a parameter sweep pays for UMAP once."""
        import hdbscan

        cfg = self.config
        X = np.asarray(X, dtype=np.float32)
        n = len(X)
        self.min_cluster_size_ = min_cluster_size_for(n, cfg)
        if n < max(2 * self.min_cluster_size_, 10):
            self.labels_ = np.full(n, NOISE)
            self.similarity_ = np.zeros(n, dtype=np.float32)
            return self
        Z = self.reduce(X) if reduced is None else reduced
        labels = hdbscan.HDBSCAN(
            min_cluster_size=self.min_cluster_size_,
            min_samples=cfg.min_samples,
            cluster_selection_method=cfg.cluster_selection_method,
            cluster_selection_epsilon=cfg.cluster_selection_epsilon,
            allow_single_cluster=self.allow_single_cluster,
        ).fit(Z).labels_.astype(np.int64)
        self.hdbscan_noise_ = float((labels == NOISE).mean())

        labels = assign_by_neighbours(
            X, Z, labels, k=cfg.reassign_neighbours, min_similarity=cfg.reassign_min_similarity,
            margin=cfg.reassign_margin,
        )

        knn_idx, knn_sim = neighbours(X, 10)
        groups = duplicate_groups(knn_idx, knn_sim, cfg.duplicate_similarity)
        labels = _unify_groups(labels, groups)
        labels = merge_neighbouring_clusters(labels, knn_idx[:, 1:], cfg.merge_neighbour_share)
        labels = merge_close_in_reduced_space(Z, labels, cfg.merge_reduced_distance)
        labels = apply_member_floor(X, labels, cfg.member_min_similarity,
                                    min_size=self.min_cluster_size_)
        if cfg.recluster_leftovers:
            labels = recluster_leftovers(X, Z, labels, min_size=self.min_cluster_size_,
                                         floor=cfg.member_min_similarity)

        ids, C = centroids(X, labels)
        self.centroid_ids_, self.centroids_ = ids, C
        sim = np.zeros(n, dtype=np.float32)
        if len(ids):
            pos = {k: i for i, k in enumerate(ids.tolist())}
            member = labels != NOISE
            sim[member] = np.einsum(
                "ij,ij->i", X[member], C[[pos[k] for k in labels[member].tolist()]]
            )
        self.labels_, self.similarity_ = labels, sim
        return self


def _unify_groups(labels: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Give every member of a duplicate group the group's majority (non-noise) label."""
    out = labels.copy()
    order = np.argsort(groups, kind="stable")
    boundaries = np.flatnonzero(np.diff(groups[order])) + 1
    for members in np.split(order, boundaries):
        if len(members) < 2:
            continue
        found = labels[members][labels[members] != NOISE]
        if len(found):
            values, counts = np.unique(found, return_counts=True)
            out[members] = values[counts.argmax()]
    return out


__all__ = ["NOISE", "ThemeClusterer", "apply_member_floor", "assign_by_neighbours",
           "assign_to_nearest", "centroids", "duplicate_groups", "join_clusters",
           "merge_close_in_reduced_space", "merge_neighbouring_clusters", "neighbour_share",
           "recluster_leftovers"]
