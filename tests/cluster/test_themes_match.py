import numpy as np
import pytest

from feedback_pipeline.cluster.identity import match_themes
from feedback_pipeline.config import ThemesConfig

DIM = 16
MATCH_SIMILARITY = ThemesConfig().match_similarity


def old_centroids(n: int) -> np.ndarray:
    """n orthonormal stored-theme centroids (the first n basis vectors)."""
    return np.eye(n, DIM, dtype=np.float32)


def new_centroids(similarities: list[list[float]]) -> np.ndarray:
    """Unit vectors whose cosine to old_centroids(len(row)) is exactly the given row."""
    S = np.asarray(similarities, dtype=np.float64)
    m, n = S.shape
    out = np.zeros((m, DIM))
    out[:, :n] = S
    rest = 1.0 - (S**2).sum(axis=1)
    assert (rest >= 0).all(), "similarities not realisable with orthonormal old centroids"
    out[np.arange(m), n + np.arange(m)] = np.sqrt(rest)  # a private direction per new cluster
    return out.astype(np.float32)


def test_new_centroids_helper_gives_unit_vectors_with_the_asked_similarities():
    C = new_centroids([[0.7, 0.65], [0.66, 0.1]])

    assert np.linalg.norm(C, axis=1) == pytest.approx([1.0, 1.0], abs=1e-6)
    similarities = C @ old_centroids(2).T
    assert similarities == pytest.approx(np.array([[0.7, 0.65], [0.66, 0.1]]), abs=1e-6)


def test_permuted_identical_centroids_keep_their_ids():
    old_ids = [101, 102, 103]
    old = old_centroids(3)
    new_labels = np.array([0, 1, 2])
    new = old[[2, 0, 1]]

    assert match_themes(new_labels, new, old_ids, old) == {
        0: (103, pytest.approx(1.0)), 1: (101, pytest.approx(1.0)), 2: (102, pytest.approx(1.0))}


# "at": a threshold and similarity exactly representable in float32 (0.75), so the similarity
# equals the threshold rather than landing a rounding error above or below it (float32(0.80) is
# 0.8000000119, which would pass "at" even with a strict comparison).
@pytest.mark.parametrize(
    ("similarity", "threshold", "matched"),
    [(MATCH_SIMILARITY + 0.01, MATCH_SIMILARITY, True), (0.75, 0.75, True),
     (MATCH_SIMILARITY - 0.01, MATCH_SIMILARITY, False)],
    ids=["above", "at", "below"],
)
def test_threshold(similarity, threshold, matched):
    new = new_centroids([[similarity]])
    assert float(new[0, 0]) == similarity or similarity != threshold

    result = match_themes(np.array([5]), new, [42], old_centroids(1), threshold=threshold)

    assert (5 in result) is matched
    if matched:
        assert result[5] == (42, pytest.approx(similarity, abs=1e-6))


def test_default_threshold_is_the_configured_one():
    new = new_centroids([[MATCH_SIMILARITY - 0.01]])

    assert match_themes(np.array([0]), new, [1], old_centroids(1)) == {}
    assert match_themes(np.array([0]), new, [1], old_centroids(1),
                        threshold=MATCH_SIMILARITY - 0.02) != {}


def test_custom_threshold():
    new = new_centroids([[0.6]])

    assert match_themes(np.array([0]), new, [1], old_centroids(1)) == {}
    assert match_themes(np.array([0]), new, [1], old_centroids(1), threshold=0.5) == {
        0: (1, pytest.approx(0.6, abs=1e-6))}


def test_one_stored_theme_goes_to_one_new_cluster_only():
    # Both new clusters resemble theme 10; the closer one keeps it, the other is new.
    new = new_centroids([[0.85, 0.1], [0.95, 0.1]])

    result = match_themes(np.array([0, 1]), new, [10, 11], old_centroids(2))

    assert result == {1: (10, pytest.approx(0.95, abs=1e-6))}


def test_assignment_maximises_total_similarity_not_greedy():
    # Greedy would give A the best pair (A-X 0.70) and leave B with Y at 0.10 (rejected);
    # the optimal one-to-one assignment matches both.
    new = new_centroids([[0.70, 0.65], [0.66, 0.10]])

    result = match_themes(np.array([0, 1]), new, [10, 11], old_centroids(2), threshold=0.6)

    assert result == {0: (11, pytest.approx(0.65, abs=1e-6)),
                      1: (10, pytest.approx(0.66, abs=1e-6))}


def test_more_new_clusters_than_stored_themes():
    new = new_centroids([[0.9, 0.0], [0.0, 0.0], [0.0, 0.9]])

    result = match_themes(np.array([3, 4, 5]), new, [10, 11], old_centroids(2))

    assert result == {3: (10, pytest.approx(0.9, abs=1e-6)), 5: (11, pytest.approx(0.9, abs=1e-6))}


def test_more_stored_themes_than_new_clusters():
    new = new_centroids([[0.0, 0.0, 0.95]])

    assert match_themes(np.array([0]), new, [10, 11, 12], old_centroids(3)) == {
        0: (12, pytest.approx(0.95, abs=1e-6))}


def test_member_overlap_accepts_a_pair_below_the_similarity_threshold():
    new = new_centroids([[0.5, 0.1], [0.1, 0.5]])
    overlap = np.array([[0.7, 0.0], [0.0, 0.3]])

    result = match_themes(np.array([0, 1]), new, [10, 11], old_centroids(2), overlap=overlap,
                          min_overlap=0.5)

    assert result == {0: (10, pytest.approx(0.5, abs=1e-6))}


def test_nothing_to_match():
    new = new_centroids([[0.9]])

    assert match_themes(np.array([0]), new, [], np.zeros((0, DIM), dtype=np.float32)) == {}
    assert match_themes(np.zeros(0, dtype=np.int64), np.zeros((0, DIM), dtype=np.float32),
                        [10], old_centroids(1)) == {}


def test_result_uses_plain_python_types():
    result = match_themes(np.array([0]), new_centroids([[0.9]]), [np.int64(10)], old_centroids(1))

    [(label, (theme_id, sim))] = result.items()
    assert (type(label), type(theme_id), type(sim)) == (int, int, float)


def test_sub_threshold_similarities_do_not_steal_a_match():
    new = new_centroids([[0.90, 0.43], [0.85, 0.0]])  # A, B against X, Y

    result = match_themes(np.array([0, 1]), new, [10, 11], old_centroids(2))

    assert result == {0: (10, pytest.approx(0.90, abs=1e-6))}
