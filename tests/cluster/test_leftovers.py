"""Step 7 of the clustering: noise left after the member floor, clustered among itself."""

import numpy as np

from feedback_pipeline.cluster.model import NOISE, recluster_leftovers

DIM = 16


def unit_rows(X: np.ndarray) -> np.ndarray:
    return (X / np.linalg.norm(X, axis=1, keepdims=True)).astype(np.float32)


def corpus(seed: int, tight: int = 12, scattered: int = 10):
    """One existing theme (30 rows, label 0), then two groups of ``tight`` leftovers, each
    around its own direction, and ``scattered`` leftovers spread over the sphere, all noise so
    far (HDBSCAN never makes one cluster of all the leftovers, so a lone group stays noise)."""
    rng = np.random.default_rng(seed)
    axes = unit_rows(rng.normal(size=(3, DIM)))
    theme = axes[0] + rng.normal(scale=0.05, size=(30, DIM))
    groups = [axes[i] + rng.normal(scale=0.05, size=(tight, DIM)) for i in (1, 2)]
    spread = rng.normal(size=(scattered, DIM))
    X = unit_rows(np.vstack([theme, *groups, spread]))
    labels = np.concatenate([np.zeros(30, np.int64), np.full(2 * tight + scattered, NOISE)])
    return X, labels, [slice(30, 30 + tight), slice(30 + tight, 30 + 2 * tight)], \
        slice(30 + 2 * tight, None)


def test_a_tight_group_of_leftovers_becomes_a_theme_the_scattered_ones_stay_noise():
    for seed in range(3):
        X, labels, groups, spread = corpus(seed)

        out = recluster_leftovers(X, X, labels, min_size=5, floor=0.4)

        assert (out[:30] == 0).all()  # the existing theme is untouched
        new = [set(out[g].tolist()) for g in groups]
        assert all(len(n) == 1 and n not in ({NOISE}, {0}) for n in new)
        assert new[0] != new[1]
        assert (out[spread] == NOISE).mean() >= 0.8
        # The new themes keep the floor like every other.
        for n in new:
            members = out == next(iter(n))
            centroid = X[members].mean(axis=0)
            centroid /= np.linalg.norm(centroid)
            assert (X[members] @ centroid).min() >= 0.4


def test_too_few_leftovers_are_left_alone():
    X, labels, _, _ = corpus(0, tight=2, scattered=3)

    out = recluster_leftovers(X, X, labels, min_size=5, floor=0.4)

    assert np.array_equal(out, labels)


def test_only_scattered_leftovers_stay_noise():
    X, labels, _, _ = corpus(1, tight=0, scattered=20)

    out = recluster_leftovers(X, X, labels, min_size=5, floor=0.4)

    assert (out[30:] == NOISE).mean() >= 0.75
    members = out[30:] != NOISE
    for k in set(out[30:][members].tolist()):
        m = out == k
        c = X[m].mean(axis=0)
        assert (X[m] @ (c / np.linalg.norm(c))).min() >= 0.4
