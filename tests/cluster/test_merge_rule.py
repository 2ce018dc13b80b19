"""The near-duplicate merge rule (curate.py) on real texts: Banking77's labelled sample.

Themes are built by hand from the public intents (``tests/data/banking77_sample.csv``, 12 intents
x 25 texts of the test split) and embedded with the default model, so what is merged and what is
kept apart is decided by the rule on real vectors, not on synthetic blobs:

- one intent cut in two themes (its own 2-means halves) is one request: merged, and the twelve
  whole intents are never merged with each other;
- the two intents of the sample whose centroids are closest (close, but distinct requests) are
  not merged;
- a person's split of the merged theme (the keep-apart centroids) is not merged again.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from sklearn.cluster import KMeans

from feedback_pipeline.cluster.config import ThemesConfig
from feedback_pipeline.cluster.corpus import unit
from feedback_pipeline.cluster.curate import merge_duplicates, pair_scores
from feedback_pipeline.cluster.model import neighbours

SAMPLE = Path(__file__).parents[1] / "data" / "banking77_sample.csv"
# The measured rule (ThemesConfig with merge_share 0.12; the merge itself ships off): share,
# centroid cosine and exclusivity of the pair.
SHIPPED = ThemesConfig(merge_share=0.12)
RULE = {"similarity": SHIPPED.merge_similarity, "share": SHIPPED.merge_share,
        "exclusivity": SHIPPED.merge_exclusivity}


@pytest.fixture(scope="module")
def sample(embedder):
    rows = list(csv.DictReader(SAMPLE.open(encoding="utf-8")))
    intents = sorted({r["label"] for r in rows})
    X = np.asarray(embedder.embed([r["text"] for r in rows]), np.float32)
    truth = np.array([intents.index(r["label"]) for r in rows])
    return X, truth, intents


def _knn(X: np.ndarray) -> np.ndarray:
    return neighbours(X, 11)[0][:, 1:]


def _closest_intents(X: np.ndarray, truth: np.ndarray) -> tuple[int, int, float]:
    ids = sorted(set(truth.tolist()))
    C = unit(np.stack([X[truth == k].sum(axis=0) for k in ids]))
    S = C @ C.T - 2 * np.eye(len(ids))
    a, b = np.unravel_index(S.argmax(), S.shape)
    return int(a), int(b), float(S[a, b])


def _cut(X: np.ndarray, truth: np.ndarray, intent: int) -> np.ndarray:
    """Labels with ``intent`` cut in two themes (its 2-means halves, the second half taking a new
    label), every other intent a theme of its own."""
    labels = truth.copy()
    rows = np.flatnonzero(truth == intent)
    halves = KMeans(n_clusters=2, n_init=3, random_state=0).fit_predict(X[rows])
    labels[rows[halves == 1]] = truth.max() + 1
    return labels


@pytest.mark.slow
def test_an_intent_cut_in_two_is_merged_back(sample):
    X, truth, intents = sample
    intent = intents.index("getting_virtual_card")
    labels = _cut(X, truth, intent)
    out, joined = merge_duplicates(X, labels, _knn(X), **RULE)
    assert sorted(joined[0]) == [intent, labels.max()] and len(joined) == 1
    assert len(set(out[truth == intent].tolist())) == 1
    assert (out[truth != intent] == truth[truth != intent]).all()


@pytest.mark.slow
def test_whole_intents_are_never_merged(sample):
    X, truth, intents = sample
    assert merge_duplicates(X, truth, _knn(X), **RULE)[1] == []


@pytest.mark.slow
def test_the_closest_two_intents_are_not_merged(sample):
    X, truth, intents = sample
    a, b, cosine = _closest_intents(X, truth)
    assert cosine >= SHIPPED.merge_similarity  # close enough for the cosine test alone
    scores = pair_scores(X, truth, _knn(X))
    out, joined = merge_duplicates(X, truth, _knn(X), **RULE)
    assert joined == [], (intents[a], intents[b], scores.get((min(a, b), max(a, b))))
    assert (out == truth).all()


@pytest.mark.slow
def test_a_merge_a_person_undid_is_not_made_again(sample):
    X, truth, intents = sample
    for intent in range(len(intents)):
        labels = _cut(X, truth, intent)
        if merge_duplicates(X, labels, _knn(X), **RULE)[1]:
            break
    else:
        pytest.fail("no intent cut in two was merged")
    # The person split the merged theme back into these two parts (identity.curate passes
    # the stored centroids of a person's split as keep_apart).
    parts = tuple(unit(X[labels == k].sum(axis=0)) for k in (intent, labels.max()))
    out, joined = merge_duplicates(X, labels, _knn(X), keep_apart=[parts],
                                   closeness=SHIPPED.match_similarity, **RULE)
    assert joined == [] and (out == labels).all()


def test_a_merge_on_a_later_night_is_recorded_as_lineage():
    """Two stored themes that are one request are merged by the next full night's curation:
    the absorbed theme is ``merged`` into the kept one with a ``merged_into`` event, the lineage
    the Jira sink follows (tests/deliver/test_jira_lineage.py: its issue is linked to, or moves
    to, the kept theme's, and no new issue is filed)."""
    from feedback_pipeline.cluster.config import LabelConfig
    from feedback_pipeline.cluster.corpus import load_corpus
    from feedback_pipeline.cluster.identity import save_clustering
    from feedback_pipeline.warehouse.runs import open_run

    from .test_themes_lifecycle import AS_OF, Warehouse

    wh = Warehouse()
    one = set(wh.add("export", 60, spread=0.1))
    wh.add("login", 40)

    def night(day: int, themes: ThemesConfig) -> str:
        with open_run(wh.con, as_of=AS_OF.replace(day=AS_OF.day + day)) as run:
            c = load_corpus(wh.con, "synthetic")
            in_one = np.array([c.keys[i][1] in one for i in range(len(c.keys))])
            rows = np.unique(c.item_rows[in_one])
            # The clustering cut the request in two (along one of its own directions).
            cut = _one_side(c.X[rows])
            c.labels[:] = 2
            c.labels[rows] = np.where(cut, 1, 0)
            save_clustering(wh.con, c, run_id=run.run_id, themes_config=themes, min_size=8,
                            member_floor=0.4, label_config=LabelConfig(rerank_titles=False))
            return run.run_id

    night(0, ThemesConfig(merge_share=2.0))  # merging off: two themes of one request stored
    before = wh.theme_of(sorted(one))
    assert len(before) == 2
    wh.last_run = night(1, SHIPPED)
    (kept,) = wh.theme_of(sorted(one))
    (gone,) = before - {kept}
    assert (gone, "merged_into", kept) in wh.events()
    assert wh.status(gone) == "merged"
    assert wh.con.execute("SELECT merged_into FROM themes WHERE theme_id = ?",
                          [gone]).fetchone()[0] == kept


def _one_side(X: np.ndarray) -> np.ndarray:
    """True for the rows on one side of the group's first principal direction."""
    centred = X - X.mean(axis=0)
    direction = np.linalg.svd(centred, full_matrices=False)[2][0]
    return centred @ direction > 0
