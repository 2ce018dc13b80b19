import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score

from feedback_pipeline.cluster.model import NOISE, ThemeClusterer, assign_by_neighbours
from feedback_pipeline.config import ClusterConfig

N_BLOBS, PER_BLOB, DIM, N_NOISE = 6, 60, 32, 20
FAST = ClusterConfig(reducer="pca", n_components=10)


def unit_rows(X: np.ndarray) -> np.ndarray:
    return (X / np.linalg.norm(X, axis=1, keepdims=True)).astype(np.float32)


def make_blobs(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Well-separated blobs on the unit sphere plus uniform noise; truth is -1 for noise."""
    rng = np.random.default_rng(seed)
    centers = unit_rows(rng.normal(size=(N_BLOBS, DIM)))
    blobs = np.repeat(centers, PER_BLOB, axis=0) + rng.normal(scale=0.05,
                                                              size=(N_BLOBS * PER_BLOB, DIM))
    noise = rng.normal(size=(N_NOISE, DIM))  # normalised below: uniform on the sphere
    X = unit_rows(np.vstack([blobs, noise]))
    truth = np.concatenate([np.repeat(np.arange(N_BLOBS), PER_BLOB), np.full(N_NOISE, NOISE)])
    return X, truth


def assert_recovers_blobs(model: ThemeClusterer, truth: np.ndarray) -> None:
    on_blob = truth != NOISE
    labels = model.labels_[on_blob]
    assert adjusted_rand_score(truth[on_blob], labels) >= 0.9
    assert (labels != NOISE).mean() >= 0.95
    # Each blob maps to its own theme: no blob split, no two blobs merged.
    majority = [np.bincount(labels[truth[on_blob] == b][labels[truth[on_blob] == b] >= 0]).argmax()
                for b in range(N_BLOBS)]
    assert len(set(majority)) == N_BLOBS


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_pca_reducer_recovers_blobs(seed):
    X, truth = make_blobs(seed)

    model = ThemeClusterer(FAST).fit(X)

    assert_recovers_blobs(model, truth)
    assert model.labels_.shape == (len(X),)
    assert model.min_cluster_size_ == 5


def test_fitted_state():
    X, truth = make_blobs(0)

    model = ThemeClusterer(FAST)
    assert model.fit(X) is model

    members = model.labels_ != NOISE
    assert model.similarity_.dtype == np.float32
    assert (model.similarity_[~members] == 0).all()
    # Blob points sit close to their theme's centroid (cosine in the original space).
    assert np.median(model.similarity_[members & (truth != NOISE)]) > 0.9
    assert sorted(model.centroid_ids_.tolist()) == sorted(set(model.labels_[members].tolist()))
    assert np.linalg.norm(model.centroids_, axis=1) == pytest.approx(1.0, abs=1e-5)


@pytest.mark.slow
def test_default_umap_reducer_recovers_blobs():
    X, truth = make_blobs(0)

    model = ThemeClusterer(ClusterConfig()).fit(X)

    assert_recovers_blobs(model, truth)


def test_exact_duplicates_always_share_a_label():
    X, truth = make_blobs(3)
    rng = np.random.default_rng(3)
    blob_rows = rng.choice(np.flatnonzero(truth != NOISE), size=8, replace=False)
    noise_rows = np.flatnonzero(truth == NOISE)[:6]
    # pairs of blob and noise points, plus one noise point repeated more often than the kNN k
    originals = np.concatenate([blob_rows, noise_rows, np.repeat(noise_rows[:1], 14)])
    X_dup = np.vstack([X, X[originals]])

    labels = ThemeClusterer(FAST).fit(X_dup).labels_

    copies = len(X) + np.arange(len(originals))
    mismatched = [(int(o), int(labels[o]), int(labels[c]))
                  for o, c in zip(originals, copies, strict=True) if labels[o] != labels[c]]
    assert mismatched == []


def test_near_duplicates_share_a_label():
    X, truth = make_blobs(4)
    rng = np.random.default_rng(4)
    rows = np.flatnonzero(truth == NOISE)[:5]
    near = unit_rows(X[rows] + rng.normal(scale=0.01, size=(len(rows), DIM)))
    assert (np.einsum("ij,ij->i", near, X[rows]) >= 0.95).all()

    labels = ThemeClusterer(FAST).fit(np.vstack([X, near])).labels_

    assert labels[rows].tolist() == labels[len(X):].tolist()


@pytest.mark.parametrize(
    ("n", "config"),
    [(0, FAST), (1, FAST), (9, FAST), (30, ClusterConfig(reducer="pca", min_cluster_size=20))],
    ids=["empty", "one", "nine", "under-twice-min-cluster-size"],
)
def test_too_small_input_is_all_noise(n, config):
    X, _ = make_blobs(0)
    X = X[:n] if n else np.zeros((0, DIM), dtype=np.float32)

    model = ThemeClusterer(config).fit(X)

    assert model.labels_.tolist() == [NOISE] * n
    assert model.similarity_.tolist() == [0.0] * n


def test_second_pass_only_pulls_in_close_noise():
    X, truth = make_blobs(1)
    loose = ClusterConfig(reducer="pca", n_components=10, reassign_min_similarity=-1.0,
                          member_min_similarity=-1.0)

    careful_labels = ThemeClusterer(FAST).fit(X).labels_
    loose_labels = ThemeClusterer(loose).fit(X).labels_

    # Uniform points are nearly orthogonal to every theme: most stay noise at the default 0.5,
    # and all of them join a theme when any similarity is accepted.
    assert (careful_labels[truth == NOISE] == NOISE).sum() >= N_NOISE // 2
    assert (loose_labels == NOISE).sum() == 0


def on_circle(degrees) -> np.ndarray:
    rad = np.deg2rad(np.asarray(degrees, dtype=float))
    return np.stack([np.cos(rad), np.sin(rad)], axis=1).astype(np.float32)


def test_noise_follows_its_neighbours_theme_not_the_nearest_centroid():
    # Theme 0 is a long arc (0-90 degrees), theme 1 a tight blob (100-110). A noise point at 92
    # degrees sits at the arc's end: its neighbours are the arc's, though the blob's centroid
    # (105) is nearer than the arc's (45). A point at 250 degrees is genuine noise.
    arc, blob = np.arange(0, 91, 3), np.arange(100, 111, 2)
    X = on_circle([*arc, *blob, 92, 250])
    labels = np.array([0] * len(arc) + [1] * len(blob) + [NOISE, NOISE])

    by_vote = assign_by_neighbours(X, X, labels, k=5, min_similarity=0.5, margin=0.0)
    by_centroid = assign_by_neighbours(X, X, labels, k=0, min_similarity=0.5, margin=0.0)

    assert by_vote[-2:].tolist() == [0, NOISE]
    assert by_centroid[-2:].tolist() == [1, NOISE]
    assert (by_vote[:-2] == labels[:-2]).all()  # members never move


def test_a_vote_for_a_far_theme_falls_back_to_the_nearest_centroid_or_stays_noise():
    arc, blob = np.arange(0, 91, 3), np.arange(100, 111, 2)
    X = on_circle([*arc, *blob, 92])
    labels = np.array([0] * len(arc) + [1] * len(blob) + [NOISE])

    # cos(92 - 45) = 0.68 misses a 0.9 floor; the blob's centroid (cos 13 deg = 0.97) clears it.
    assert assign_by_neighbours(X, X, labels, k=5, min_similarity=0.9, margin=0.0)[-1] == 1
    # With a floor no centroid clears, it stays noise.
    assert assign_by_neighbours(X, X, labels, k=5, min_similarity=0.99, margin=0.0)[-1] == NOISE
