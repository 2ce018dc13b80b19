"""Curation of a clustering before delivery: duplicates merged, mixed themes split, floor kept."""

from __future__ import annotations

import numpy as np

from feedback_pipeline.cluster.curate import (
    curate_themes,
    merge_duplicates,
    pair_scores,
    split_mixed,
)
from feedback_pipeline.cluster.model import NOISE, neighbours

RULE = {"similarity": 0.8, "share": 0.1}


def _blob(rng, direction: np.ndarray, n: int, spread: float = 0.12) -> np.ndarray:
    V = direction + rng.normal(size=(n, len(direction))) * spread
    return V / np.linalg.norm(V, axis=1, keepdims=True)


def _knn(X: np.ndarray) -> np.ndarray:
    return neighbours(X.astype(np.float32), 11)[0][:, 1:]


def _two_requests(seed: int = 0) -> np.ndarray:
    """Blob A (40 texts) around e0, blob B (40) around e1: two unrelated requests."""
    rng = np.random.default_rng(seed)
    eye = np.eye(16)
    return np.vstack([_blob(rng, eye[0], 40), _blob(rng, eye[1], 40)]).astype(np.float32)


def test_one_request_cut_in_two_is_merged_and_two_requests_are_not():
    X = _two_requests()
    # Blob A cut in halves along its first noise axis: two themes of one request.
    halves = np.where(X[:40, 2] > np.median(X[:40, 2]), 0, 1)
    labels = np.concatenate([halves, np.full(40, 2)])
    out, joined = merge_duplicates(X, labels, _knn(X), **RULE)
    assert len(joined) == 1
    assert len(set(out[:40].tolist())) == 1
    assert out[0] != out[40] and len(set(out[40:].tolist())) == 1


def test_a_person_split_is_not_merged_again():
    X = _two_requests()
    halves = np.where(X[:40, 2] > np.median(X[:40, 2]), 0, 1)
    labels = np.concatenate([halves, np.full(40, 2)])
    parts = [X[:40][halves == k].sum(axis=0) for k in (0, 1)]
    keep_apart = [tuple(p / np.linalg.norm(p) for p in parts)]
    out, joined = merge_duplicates(X, labels, _knn(X), keep_apart=keep_apart, closeness=0.8,
                                   **RULE)
    assert joined == [] and (out == labels).all()


def test_a_theme_of_two_requests_is_split_and_one_request_is_not():
    X = _two_requests()
    labels = np.zeros(80, dtype=np.int64)  # both blobs in one theme
    out, parts = split_mixed(X, labels, _knn(X), min_size=10, split_share=0.08)
    assert len(parts) == 1
    assert len(set(out[:40].tolist())) == 1 and len(set(out[40:].tolist())) == 1
    assert out[0] != out[40]
    # Each blob alone is one request: its halves are alike enough to stay together.
    one = np.where(np.arange(80) < 40, 0, 1)
    kept, none = split_mixed(X, one, _knn(X), min_size=10, split_share=0.08)
    assert none == [] and (kept == one).all()
    # Halves too small for a theme are no split.
    assert split_mixed(X, labels, _knn(X), min_size=41, split_share=0.08)[1] == []


def test_a_merge_that_would_make_a_mixed_theme_is_not_made():
    X = _two_requests()
    # Two themes that each hold half of both requests: their members are each other's
    # neighbours and their centroids alike, so the rule calls them one request...
    labels = np.where(np.arange(80) % 40 < 20, 0, 1)
    assert merge_duplicates(X, labels, _knn(X), **RULE)[1] == [(1, 0)]
    # ...but joined they would be the two requests a split takes apart again: not joined.
    out, joined = merge_duplicates(X, labels, _knn(X), split_share=0.08, **RULE)
    assert joined == [] and (out == labels).all()


def test_curation_keeps_the_member_floor():
    X = _two_requests(1)
    rng = np.random.default_rng(5)
    stray = rng.normal(size=(4, 16))
    X = np.vstack([X, stray / np.linalg.norm(stray, axis=1, keepdims=True)]).astype(np.float32)
    labels = np.concatenate([np.zeros(40), np.ones(40), [0, 0, 1, 1]]).astype(np.int64)
    out, _ = curate_themes(X, labels, merge_similarity=0.8, merge_share=0.1, split_share=0.08,
                           floor=0.5, min_size=10)
    for k in set(out.tolist()) - {NOISE}:
        c = X[out == k].sum(axis=0)
        assert (X[out == k] @ (c / np.linalg.norm(c)) >= 0.5 - 1e-6).all()
    assert (out[80:] == NOISE).all() and (out[:80] != NOISE).all()
    # Merging above 1 and splitting at 0 are off: nothing changes (the floor is the
    # clusterer's then).
    same, stats = curate_themes(X, labels, merge_similarity=0.8, merge_share=2.0,
                                split_share=0.0, floor=0.5, min_size=10)
    assert (same == labels).all() and stats == {"split_themes": 0, "merged_duplicates": 0}


def test_a_theme_touching_several_neighbours_is_not_merged_with_one_of_them():
    """Exclusivity: a theme between three requests shares neighbours with each of them (share
    and cosine alone would join it to one), while one request cut in two touches mostly its
    other half."""
    rng = np.random.default_rng(3)
    eye = np.eye(16)
    hub = (eye[0] + eye[1] + eye[2]) / np.sqrt(3)
    sides = [_blob(rng, hub * 0.8 + eye[k] * 0.5, 30) for k in range(3)]
    middle = _blob(rng, hub, 30)
    one = _blob(rng, eye[5], 60)
    cut = np.where(one[:, 6] > np.median(one[:, 6]), 4, 5)
    X = np.vstack([*sides, middle, one]).astype(np.float32)
    labels = np.concatenate([np.full(30, 0), np.full(30, 1), np.full(30, 2), np.full(30, 3),
                             cut])
    scores = pair_scores(X, labels, _knn(X))
    hub_pairs = [scores[(k, 3)] for k in range(3)]
    assert min(cos for cos, _, _ in hub_pairs) >= 0.8 and min(s for _, s, _ in hub_pairs) >= 0.12
    assert max(e for _, _, e in hub_pairs) < 0.5 <= scores[(4, 5)][2]
    out, joined = merge_duplicates(X, labels, _knn(X), similarity=0.8, share=0.1,
                                   exclusivity=0.5)
    assert joined == [(4, 5)] or joined == [(5, 4)]
    assert (out[:120] == labels[:120]).all()
    # Without exclusivity themes of the crowded zone are joined.
    _, loose = merge_duplicates(X, labels, _knn(X), similarity=0.8, share=0.1)
    assert any(max(pair) <= 3 for pair in loose)
