"""The two rules of theme identity that act on single texts, on small hand-made clusterings:
moves between surviving themes that no split or merge explains are undone
(``settle_unexplained``), and a cluster holding both parts of a theme a person split is divided
along the parts' stored centroids (``apply_splits``). The lifecycle tests show them inside a
night; these pin each rule down (cases surviving mutants showed untested, RELIABILITY.md)."""

from __future__ import annotations

import numpy as np
import pytest

from feedback_pipeline.cluster.config import ThemesConfig
from feedback_pipeline.cluster.corpus import Clustering
from feedback_pipeline.cluster.identity import (
    Identity,
    StoredThemes,
    apply_splits,
    match_themes,
    settle_unexplained,
)
from feedback_pipeline.cluster.model import NOISE


def clustering(labels: list[int], *, item_rows: list[int] | None = None,
               names: list[str] | None = None, X: np.ndarray | None = None) -> Clustering:
    rows = list(range(len(labels))) if item_rows is None else item_rows
    names = names or [f"t{r}" for r in rows]
    X = np.eye(len(labels), dtype=np.float32) if X is None else X
    return Clustering(keys=[("forum", n) for n in names], urls=[None] * len(rows),
                      item_rows=np.array(rows, dtype=np.int64),
                      texts=[f"text {r}" for r in range(len(labels))],
                      text_hashes=[f"h{r}" for r in range(len(labels))], X=X,
                      labels=np.array(labels, dtype=np.int64),
                      similarity=np.ones(len(labels), dtype=np.float32))


def identity(theme_of: dict[int, int], events: list | None = None) -> Identity:
    new = [lab for lab in range(5) if lab not in theme_of]
    return Identity(theme_of, new, events or [], {}, [], [])


def previous(**theme_of_name: int) -> dict[tuple[str, str], int]:
    return {("forum", name): theme for name, theme in theme_of_name.items()}


# Texts t0-t2 were in theme 10 and t3-t4 in theme 20; tonight t2 sits in cluster 1 (theme 20).
MOVED = [0, 0, 1, 1, 1]
BEFORE = previous(t0=10, t1=10, t2=10, t3=20, t4=20)


def test_a_move_between_two_surviving_themes_that_nothing_explains_is_undone():
    c = clustering(MOVED)
    assert settle_unexplained(c, identity({0: 10, 1: 20}), BEFORE) == 1
    assert c.labels.tolist() == [0, 0, 0, 1, 1]


def test_a_move_that_a_recorded_split_or_merge_explains_stays():
    for event in [(20, "split_from", 10, "1 of 3"), (10, "split_from", 20, "1 of 3"),
                  (10, "merged_into", 20, "3 of 3")]:
        c = clustering(MOVED)
        assert settle_unexplained(c, identity({0: 10, 1: 20}, [event]), BEFORE) == 0, event
        assert c.labels.tolist() == MOVED, event


def test_other_events_or_other_pairs_do_not_explain_a_move():
    for event in [(20, "revived", 10, "similarity 0.91"), (20, "split_from", None, None),
                  (20, "split_from", 30, "2 of 5"), (30, "merged_into", 10, "4 of 4")]:
        c = clustering(MOVED)
        assert settle_unexplained(c, identity({0: 10, 1: 20}, [event]), BEFORE) == 1, event
        assert c.labels.tolist() == [0, 0, 0, 1, 1], event


def test_a_move_into_a_new_cluster_is_undone_unless_it_split_from_the_old_theme():
    c = clustering(MOVED)
    assert settle_unexplained(c, identity({0: 10}), previous(t0=10, t1=10, t2=10)) == 1
    assert c.labels.tolist() == [0, 0, 0, 1, 1]

    c = clustering(MOVED)
    split = identity({0: 10}, [(("new", 1), "split_from", 10, "1 of 3")])
    assert settle_unexplained(c, split, previous(t0=10, t1=10, t2=10)) == 0
    assert c.labels.tolist() == MOVED


def test_noise_new_texts_and_members_of_themes_gone_tonight_stay_where_they_are():
    # t0 was noise (no previous theme), t1 is noise tonight, t2's theme 30 has no cluster;
    # t5, after them, moved from theme 10 to 20 unexplained and is put back.
    c = clustering([1, NOISE, 1, 0, 0, 1])
    before = previous(t1=10, t2=30, t3=10, t4=10, t5=10)
    assert settle_unexplained(c, identity({0: 10, 1: 20}), before) == 1
    assert c.labels.tolist() == [1, NOISE, 1, 0, 0, 0]


def test_a_text_shared_by_several_items_is_put_back_once_and_the_rest_still_checked():
    # Items t2 and t2b carry the same text (row 2); t4 (row 4) moved too, and comes after them.
    c = clustering([0, 0, 1, 1, 1], item_rows=[2, 2, 0, 1, 3, 4],
                   names=["t2", "t2b", "t0", "t1", "t3", "t4"])
    before = {**BEFORE, ("forum", "t2b"): 10, ("forum", "t4"): 10}
    assert settle_unexplained(c, identity({0: 10, 1: 20}), before) == 2
    assert c.labels.tolist() == [0, 0, 0, 1, 0]


# Two stored themes a person split: 1 (about the x axis) and 2 (about the y axis).
SPLIT = StoredThemes([1, 2], np.array([[1, 0], [0, 1]], dtype=np.float32),
                     {1: "active", 2: "active"}, splits=[(1, 2)])
NEAR_X, NEAR_Y = [0.9, 0.1], [0.2, 0.8]


def vectors(*rows: list[float]) -> np.ndarray:
    X = np.array(rows, dtype=np.float32)
    return X / np.linalg.norm(X, axis=1, keepdims=True)


def test_one_cluster_holding_both_parts_of_a_split_is_divided_along_them():
    for found in (1, 2):  # whichever part tonight's cluster matched
        c = clustering([3, 3, 3, NOISE], X=vectors(NEAR_X, NEAR_Y, NEAR_Y, NEAR_X))
        theme_of = {3: found}
        assert apply_splits(c, theme_of, SPLIT) == [4]
        assert c.labels.tolist() == [3, 4, 4, NOISE]  # noise stays noise
        assert theme_of == {3: 1, 4: 2}


def test_no_division_when_the_parts_are_apart_or_the_cluster_is_one_sided():
    c = clustering([0, 1], X=vectors(NEAR_X, NEAR_Y))
    theme_of = {0: 1, 1: 2}
    assert apply_splits(c, theme_of, SPLIT) == []
    assert (c.labels.tolist(), theme_of) == ([0, 1], {0: 1, 1: 2})

    for side in (NEAR_X, NEAR_Y):
        c = clustering([0, 0], X=vectors(side, side))
        assert apply_splits(c, {0: 1}, SPLIT) == []
        assert c.labels.tolist() == [0, 0]


def test_a_split_whose_parts_are_not_both_stored_is_ignored():
    stored = StoredThemes([1], np.array([[1, 0]], dtype=np.float32), {1: "active"},
                          splits=[(1, 2), (2, 1)])
    c = clustering([0, 0], X=vectors(NEAR_X, NEAR_Y))
    assert apply_splits(c, {0: 1}, stored) == []
    assert c.labels.tolist() == [0, 0]


def test_each_split_divides_its_own_cluster():
    stored = StoredThemes([1, 2, 5, 6], np.array([[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0],
                                                  [0, 0, 0, 1]], dtype=np.float32),
                          dict.fromkeys([1, 2, 5, 6], "active"), splits=[(1, 2), (5, 6)])
    c = clustering([0, 0, 1, 1], X=vectors([1, 0.1, 0, 0], [0.1, 1, 0, 0], [0, 0, 1, 0.1],
                                           [0, 0, 0.1, 1]))
    theme_of = {0: 1, 1: 6}
    assert apply_splits(c, theme_of, stored) == [2, 3]
    assert c.labels.tolist() == [0, 2, 1, 3]
    assert theme_of == {0: 1, 2: 2, 1: 5, 3: 6}


def test_a_split_that_needs_no_division_does_not_stop_the_next_one():
    # A split (7, 8) that cannot apply, for each reason, listed before (1, 2), which does.
    C = np.eye(4, dtype=np.float32)
    near_1, near_2, near_7, near_8 = [1, 0.1, 0, 0], [0.1, 1, 0, 0], [0, 0, 1, 0.1], [0, 0, 0.1, 1]
    cases = [((7, 9), {0: 1, 1: 7}, [0, 0, 1, 1], [near_1, near_2, near_7, near_8]),  # 9 unknown
             ((7, 8), {0: 1, 1: 7, 2: 8}, [0, 0, 1, 2], [near_1, near_2, near_7, near_8]),
             ((7, 8), {0: 1, 1: 7}, [0, 0, 1, 1], [near_1, near_2, near_7, near_7])]  # one-sided
    for first, theme_of, labels, X in cases:
        stored = StoredThemes([1, 2, 7, 8], C, dict.fromkeys([1, 2, 7, 8], "active"),
                              splits=[first, (1, 2)])
        c = clustering(labels, X=vectors(*X))
        new = max(labels) + 1
        assert apply_splits(c, theme_of, stored) == [new], first
        assert c.labels.tolist() == [0, new, *labels[2:]], first
        assert (theme_of[0], theme_of[new]) == (1, 2), first


def test_matching_accepts_an_overlap_of_exactly_the_configured_share_by_default():
    # Two tonight's clusters want stored theme 10, both far from its centroid: the one whose
    # members overlap it by exactly the configured share gets it, even listed second.
    share = ThemesConfig().match_overlap
    new_C = np.array([[0, 1, 0], [0, 0, 1]], dtype=np.float32)
    overlap = np.array([[share / 2], [share]])
    matched = match_themes(np.array([0, 1]), new_C, [10], np.array([[1, 0, 0]], np.float32),
                           overlap=overlap)
    assert matched == {1: (10, pytest.approx(0.0, abs=1e-6))}


def test_of_two_clusters_alike_the_stored_theme_the_one_holding_its_members_keeps_its_id():
    # Both centroids are close enough; cluster 1 holds most of theme 10's members.
    new_C = np.array([[0.85, np.sqrt(1 - 0.85**2), 0], [0.82, 0, np.sqrt(1 - 0.82**2)]],
                     dtype=np.float32)
    overlap = np.array([[0.1], [0.9]])
    matched = match_themes(np.array([0, 1]), new_C, [10], np.array([[1, 0, 0]], np.float32),
                           threshold=0.8, overlap=overlap, min_overlap=0.5)
    assert matched == {1: (10, pytest.approx(0.82, abs=1e-6))}
