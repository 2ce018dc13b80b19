"""Item types: the classifier's mechanics, storage, the rank filter, and its accuracy."""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from feedback_pipeline.config import RankConfig
from feedback_pipeline.embed.embedder import Embedder
from feedback_pipeline.embed.item_types import (
    TYPES,
    ItemTypeClassifier,
    classify_pending,
    lexical_cues,
    load_prototypes,
)
from feedback_pipeline.embed.stage import save_vectors
from feedback_pipeline.rank.score import rank_themes
from feedback_pipeline.report.terminal import format_type_mix, theme_detail

LABELLED = Path(__file__).parents[1] / "data" / "item_types_labelled.csv"
AS_OF = datetime(2024, 6, 30, tzinfo=UTC)
ACCURACY_FLOOR = {"test": 0.95, "holdout": 0.80}


class KeywordEmbedder(Embedder):
    """One axis per type, switched on by a keyword: predictable vectors without a model."""

    model_id = "keywords"
    KEYWORDS = ("add", "broken", "how", "love")

    def embed(self, texts: list[str]) -> np.ndarray:
        X = np.array([[1.0 if k in t.lower() else 0.0 for k in self.KEYWORDS] + [0.2]
                      for t in texts], dtype=np.float32)
        return X / np.linalg.norm(X, axis=1, keepdims=True)


PROTOTYPES = {"request": ["add this"], "problem": ["it is broken"], "question": ["how to"],
              "praise": ["love it"]}


def read_labelled(*splits: str) -> tuple[list[str], list[str]]:
    rows = [r for r in csv.DictReader(LABELLED.open(encoding="utf-8")) if r["split"] in splits]
    return [r["text"] for r in rows], [r["type"] for r in rows]


def test_prototype_file_has_every_type_and_no_labelled_text():
    protos = load_prototypes()

    assert set(protos) == set(TYPES)
    assert all(10 <= len(p) <= 20 for p in protos.values())
    texts, _ = read_labelled("dev", "test", "holdout")
    assert not {s.lower() for p in protos.values() for s in p} & {t.lower() for t in texts}


def test_labelled_set_is_balanced_and_large_enough():
    for split, n in (("test", 40), ("holdout", 20)):
        _, types = read_labelled(split)
        assert len(types) == n and {types.count(t) for t in TYPES} == {n // 4}


@pytest.mark.parametrize(
    ("text", "cue"),
    [
        ("Please add an export button", "request"),
        ("Any plans to support SSO?", "request"),
        ("Export fails with an error", "problem"),
        ("I can't log in since Monday", "problem"),
        ("How do I change my email?", "question"),
        ("Thanks, works great now", "praise"),
    ],
    ids=["please-add", "any-plans", "error", "cant", "how-do-i", "thanks"],
)
def test_lexical_cues(text, cue):
    assert lexical_cues([text])[0, TYPES.index(cue)] == 1.0


def test_nearest_prototype_wins():
    emb = KeywordEmbedder()
    clf = ItemTypeClassifier(emb, PROTOTYPES, cue_weight=0.0, margin=0.0).fit()
    texts = ["add dark mode", "sync is broken", "how does billing work", "love the app"]

    assert clf.predict(emb.embed(texts), texts) == list(TYPES)


def test_a_near_tie_is_settled_by_the_only_cue():
    emb = KeywordEmbedder()
    text = ["add how"]  # equally close to request and question prototypes
    X = emb.embed(text)
    X_tilted = X + np.array([[0.0, 0.0, 0.001, 0.0, 0.0]], dtype=np.float32)  # question by a hair
    no_margin = ItemTypeClassifier(emb, PROTOTYPES, cue_weight=0.0, margin=0.0).fit()
    with_margin = ItemTypeClassifier(emb, PROTOTYPES, cue_weight=0.0, margin=0.05).fit()
    cue_text = ["please add how"]  # a request cue, no question cue (does not start with how)

    assert no_margin.predict(X_tilted, cue_text) == ["question"]
    assert with_margin.predict(X_tilted, cue_text) == ["request"]


def test_classify_pending_types_kept_embedded_untyped_items(warehouse):
    emb = KeywordEmbedder()
    rows = [("a", "please add csv", None, None), ("b", "the export is broken", None, None),
            ("c", "how do i", "too_short", None), ("d", "love it so much", None, "praise")]
    for ext, text, drop, typed in rows:
        warehouse.execute(
            "INSERT INTO items (source, external_id, kind, created_at, updated_at, content_hash, "
            "clean_text, text_hash, drop_reason, item_type) VALUES ('f', ?, 'community_post', "
            "now(), now(), ?, ?, ?, ?, ?)", [ext, ext, text, f"h{ext}", drop, typed])
    save_vectors(warehouse, emb.model_id, ["ha", "hb", "hc", "hd"],
                 emb.embed([r[1] for r in rows]))
    clf = ItemTypeClassifier(emb, PROTOTYPES).fit()

    stats = classify_pending(warehouse, emb, clf)

    assert stats == {"typed": 2, "request": 1, "problem": 1, "question": 0, "praise": 0}
    got = warehouse.execute("SELECT external_id, item_type FROM items ORDER BY 1").fetchall()
    assert got == [("a", "request"), ("b", "problem"), ("c", None), ("d", "praise")]
    assert classify_pending(warehouse, emb, clf) == {"typed": 0}


@pytest.fixture
def typed_warehouse(warehouse):
    """Theme 1: 3 requests, 1 problem, 2 praise, 1 untyped item; six authors."""
    warehouse.execute("INSERT INTO themes (theme_id, title, status, quotes) "
                      "VALUES (1, 'Export', 'active', '[]')")
    types = ["request", "request", "request", "problem", "praise", "praise", None]
    for n, item_type in enumerate(types):
        created = AS_OF - timedelta(days=n)
        warehouse.execute(
            "INSERT INTO items (source, external_id, kind, author_hash, created_at, updated_at, "
            "content_hash, item_type) VALUES ('f', ?, 'community_post', ?, ?, ?, ?, ?)",
            [f"i{n}", f"author{n}", created, created, f"h{n}", item_type])
        warehouse.execute("INSERT INTO item_themes (source, external_id, theme_id, run_id) "
                          "VALUES ('f', ?, 1, 'run-1')", [f"i{n}"])
    warehouse.execute("INSERT INTO runs (run_id, started_at, status) VALUES ('run-1', ?, 'done')",
                      [AS_OF])
    return warehouse


def test_rank_counts_only_the_configured_types(typed_warehouse):
    everything = rank_themes(typed_warehouse, RankConfig(), run_id="run-1", as_of=AS_OF)
    wanted = rank_themes(typed_warehouse, RankConfig(types=["request", "problem"]),
                         run_id="run-1", as_of=AS_OF)

    assert everything[0]["item_count"] == 7
    assert wanted[0]["item_count"] == 5  # 3 requests, 1 problem, the untyped item
    mix = json.loads(wanted[0]["type_mix"])
    assert mix == {"request": 3, "problem": 1, "question": 0, "praise": 2, "untyped": 1}


def test_types_filter_can_drop_a_theme_below_min_authors(typed_warehouse):
    ranking = rank_themes(typed_warehouse, RankConfig(types=["question"]), run_id="run-1",
                          as_of=AS_OF)

    assert ranking == []  # only the untyped item is left: one author


def test_theme_detail_shows_the_type_mix(typed_warehouse):
    rank_themes(typed_warehouse, RankConfig(), run_id="run-1", as_of=AS_OF)

    assert "types: request 43% (3), praise 29% (2), problem 14% (1), untyped 14% (1)" in \
        theme_detail(typed_warehouse, 1)


def test_format_type_mix_leaves_out_empty_types():
    assert format_type_mix({"request": 1, "problem": 0, "question": 3}) == \
        "types: question 75% (3), request 25% (1)"
    assert format_type_mix({}) == "types: none"


@pytest.mark.slow
@pytest.mark.parametrize("split", ["test", "holdout"])
def test_accuracy_on_hand_labelled_texts(embedder, split):
    texts, truth = read_labelled(split)
    clf = ItemTypeClassifier(embedder).fit()

    predicted = clf.predict(embedder.embed(texts), texts)

    accuracy = np.mean([p == t for p, t in zip(predicted, truth, strict=True)])
    # Measured: test 0.975 (39 of 40), holdout 0.85 (17 of 20), as the README reports; one more
    # miss is tolerated, two fail.
    assert accuracy >= ACCURACY_FLOOR[split]


@pytest.mark.parametrize("text", ["Why is my top-up still outstanding?",
                                  "What are some good ASCII art generators?",
                                  "Is there a lightweight tool to crop images quickly?"])
def test_a_question_is_never_praise_without_a_praise_word(embedder, text):
    clf = ItemTypeClassifier(embedder).fit()
    assert clf.predict(embedder.embed([text]), [text]) != ["praise"]


def test_praise_with_a_praise_word_stays_praise(embedder):
    texts = ["Thanks for the quick fix, works perfectly now",
             "Love the new dashboard, great work on the redesign"]
    clf = ItemTypeClassifier(embedder).fit()
    assert clf.predict(embedder.embed(texts), texts) == ["praise", "praise"]
