"""Joining over-split clusters by their centroids' distance in the reduced space (model.py)."""

import numpy as np

from feedback_pipeline.cluster.model import NOISE, ThemeClusterer, merge_close_in_reduced_space
from feedback_pipeline.config import ClusterConfig


def layout(seed: int = 0):
    """Three clusters in a 2-d 'reduced' space: 0 and 1 are two halves of one blob (centres
    0.3 apart), 2 is far (2.0 away); the last rows are noise lying between them."""
    rng = np.random.default_rng(seed)
    centres = np.array([[0.0, 0.0], [0.3, 0.0], [2.0, 0.0]])
    Z = np.vstack([c + rng.normal(scale=0.02, size=(10, 2)) for c in centres]
                  + [rng.uniform(0, 2, size=(4, 2))])
    labels = np.concatenate([np.full(10, k) for k in (0, 1, 2)] + [np.full(4, NOISE)])
    return Z, labels


def test_close_centroids_join_far_ones_stay_apart_noise_untouched():
    Z, labels = layout()

    out = merge_close_in_reduced_space(Z, labels, 0.4)

    assert set(out[:20].tolist()) == {0}  # the smaller id is kept
    assert set(out[20:30].tolist()) == {2}
    assert (out[30:] == NOISE).all()


def test_a_threshold_below_the_gap_or_zero_changes_nothing():
    Z, labels = layout()

    assert np.array_equal(merge_close_in_reduced_space(Z, labels, 0.2), labels)
    assert np.array_equal(merge_close_in_reduced_space(Z, labels, 0.0), labels)
    one = np.where(labels == 0, 0, NOISE)
    assert np.array_equal(merge_close_in_reduced_space(Z, one, 5.0), one)


def test_a_row_of_look_alikes_does_not_chain_into_one_cluster():
    # 0-1 and 1-2 are each under the threshold, 0-2 is not. Joining every close pair would
    # make one cluster of all three; the closest pair joins first and its centroid moves to
    # the middle, 0.525 from the third, which then stays apart.
    Z = np.repeat(np.array([[0.0, 0.0], [0.35, 0.0], [0.7, 0.0]]), 5, axis=0)
    Z[10:] += [0.01, 0.0]  # 1-2 slightly further apart than 0-1, so 0-1 is the closest pair
    labels = np.repeat(np.array([4, 7, 9]), 5)

    out = merge_close_in_reduced_space(Z, labels, 0.4)

    assert out.tolist() == [4] * 10 + [9] * 5
    # A threshold above the moved centroid's distance joins the third too.
    assert set(merge_close_in_reduced_space(Z, labels, 0.6).tolist()) == {4}


def test_the_clusterer_joins_only_when_configured():
    rng = np.random.default_rng(1)
    axes = rng.normal(size=(3, 16))
    # Spread enough that no two rows are near-duplicates (those always share a theme).
    X = np.vstack([a + rng.normal(scale=0.5, size=(30, 16)) for a in axes])
    X = (X / np.linalg.norm(X, axis=1, keepdims=True)).astype(np.float32)
    # A reduced space in which HDBSCAN sees four groups: the first blob cut in two halves
    # 0.3 apart, as HDBSCAN cuts a request whose density dips.
    Z = np.repeat(np.array([[0.0, 0.0], [0.3, 0.0], [5.0, 0.0], [0.0, 5.0]]), [15, 15, 30, 30],
                  axis=0) + rng.normal(scale=0.01, size=(90, 2))

    # Leaf selection keeps the two halves apart on so few points (eom would join them itself).
    base = {"min_cluster_size": 5, "cluster_selection_method": "leaf"}
    off = ThemeClusterer(ClusterConfig(**base, merge_reduced_distance=0.0)).fit(
        X, reduced=Z).labels_
    on = ThemeClusterer(ClusterConfig(**base, merge_reduced_distance=0.5)).fit(
        X, reduced=Z).labels_

    assert len(set(off[:30].tolist()) - {NOISE}) == 2
    assert len(set(on[:30].tolist()) - {NOISE}) == 1
    assert len(set(on.tolist()) - {NOISE}) == 3
