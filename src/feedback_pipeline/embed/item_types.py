"""Item types: is an item a request, a problem, a question or praise?

Each type has a dozen or so short, generic prototype sentences (``item_types.toml``), embedded
with the pipeline's own model. An item's score for a type is the mean cosine similarity of its
vector to the ``top_k`` most similar prototypes of that type, plus ``cue_weight`` when a cheap
lexical cue for the type is present ("please add", "error", a leading "how do I", "thanks"...).
When the best two types are within ``margin`` of each other and exactly one of them has a cue,
the cue decides. Measured on a small hand-labelled set (tests/data/item_types_labelled.csv; the
dev half tuned ``top_k``, ``cue_weight`` and ``margin``, the test half is reported in README).

The vectors come from the embedding cache, so typing costs no extra model calls beyond the
prototypes (~60 sentences per run).
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa

from feedback_pipeline.embed.embedder import Embedder
from feedback_pipeline.warehouse.db import transaction, vectors_matched

TYPES = ("request", "problem", "question", "praise")
PROTOTYPES_FILE = Path(__file__).with_name("item_types.toml")

CUES: dict[str, re.Pattern[str]] = {
    "request": re.compile(
        r"\b(please (add|allow|let|make|consider|support)|feature (request|idea)|would (be )?"
        r"(love|like|nice|great|help|awesome)|i'?d (love|like)|wish|any (plans?|chance)|"
        r"could (you|we) (add|get|have|make)|can (you|we) (add|get|have)|support for|"
        r"ability to|option to|is a must|we need|suggestion)\b", re.I),
    "problem": re.compile(
        r"\b(error|errors|fail(s|ed|ing|ure)?|broken|crash(es|ed|ing)?|bug|freez(e|es|ing)|"
        r"not working|(doesn'?t|does not|don'?t|won'?t|can'?t|cannot|couldn'?t) \w+|"
        r"unable|stuck|declined|bounc(e|es|ed|ing)|missing|wrong|corrupt(ed)?|charged twice|"
        r"never (arrives?|arrived|loads?)|blank|unreadable|logs? me out)\b", re.I),
    "question": re.compile(
        r"^\s*(how|what|where|when|which|who|is there|are there|is it|do you|does|can i|"
        r"can we|can two|do i)\b", re.I),
    "praise": re.compile(
        r"\b(thanks?|thank you|love|great (job|work|update)|well done|awesome|amazing|"
        r"excellent|fantastic|impressed|superb|kudos|appreciate|five stars|"
        r"best \w+ (i|we)( have)? (tried|used))\b", re.I),
}

QUESTION_END = re.compile(r"\?\s*$")


def load_prototypes(path: Path | None = None) -> dict[str, list[str]]:
    """Prototype sentences per type from a TOML file with one list per type."""
    data = tomllib.loads((path or PROTOTYPES_FILE).read_text(encoding="utf-8"))
    missing = [t for t in TYPES if not data.get(t)]
    if missing:
        raise ValueError(f"{path or PROTOTYPES_FILE}: no prototypes for {', '.join(missing)}")
    return {t: [str(s) for s in data[t]] for t in TYPES}


def lexical_cues(texts: list[str]) -> np.ndarray:
    """(n, 4) array of 0/1: does each text carry a cue for each type."""
    return np.array([[bool(CUES[t].search(x)) for t in TYPES] for x in texts], dtype=np.float32)


class ItemTypeClassifier:
    """Nearest-prototype classifier over the pipeline's embeddings."""

    def __init__(self, embedder: Embedder, prototypes: dict[str, list[str]] | None = None, *,
                 top_k: int = 5, cue_weight: float = 0.05, margin: float = 0.02) -> None:
        self.embedder = embedder
        self.prototypes = prototypes
        self.top_k = top_k
        self.cue_weight = cue_weight
        self.margin = margin

    def fit(self) -> ItemTypeClassifier:
        """Embed the prototypes."""
        protos = self.prototypes or load_prototypes()
        self.vectors_ = {t: self.embedder.embed(protos[t]) for t in TYPES}
        return self

    def scores(self, X: np.ndarray, texts: list[str]) -> np.ndarray:
        """(n, 4) type scores: top-k prototype similarity plus the lexical cue bonus."""
        sims = []
        for t in TYPES:
            S = X @ self.vectors_[t].T
            k = min(self.top_k, S.shape[1])
            sims.append(np.sort(S, axis=1)[:, -k:].mean(axis=1))
        return np.stack(sims, axis=1) + self.cue_weight * lexical_cues(texts)

    def predict(self, X: np.ndarray, texts: list[str]) -> list[str]:
        if not len(texts):
            return []
        scores = self.scores(np.asarray(X, dtype=np.float32), texts)
        cues = lexical_cues(texts)
        order = np.argsort(-scores, axis=1)
        best, second = order[:, 0], order[:, 1]
        rows = np.arange(len(texts))
        close = scores[rows, best] - scores[rows, second] < self.margin
        # A near tie is settled by the cue when exactly one of the two has one.
        flip = close & (cues[rows, second] > 0) & (cues[rows, best] == 0)
        # Praise feeds "people to thank" lists, where a false hit is worse than a miss: without
        # a praise word it needs a clear lead, and a question is never praise. On the demo's
        # 1,448 real tickets and forum titles this took false praise from 16 items to 1; the
        # labelled test and holdout sets are unchanged (dev loses one mild-praise text).
        # ("outstanding" is no praise word: "my top-up is still outstanding".)
        praise = TYPES.index("praise")
        asks = (np.array([bool(QUESTION_END.search(t)) for t in texts])
                | (cues[:, TYPES.index("question")] > 0))
        doubtful = (best == praise) & (cues[:, praise] == 0) & (close | asks)
        flip |= doubtful
        return [TYPES[s if f else b] for b, s, f in zip(best, second, flip, strict=True)]


def dominant_type(counts: dict[str, int]) -> tuple[str | None, int, int]:
    """(the type most items have, its count, the typed total) of a theme's type counts; the type
    is None on a tie or when no item is typed. One rule for the Jira issue type and the report."""
    typed = sorted(((k, n) for k, n in counts.items() if k != "untyped" and n),
                   key=lambda kv: (-kv[1], kv[0]))
    total = sum(n for _k, n in typed)
    if not typed or (len(typed) > 1 and typed[0][1] == typed[1][1]):
        return None, typed[0][1] if typed else 0, total
    return typed[0][0], typed[0][1], total


def classify_pending(con: duckdb.DuckDBPyConnection, embedder: Embedder,
                     classifier: ItemTypeClassifier | None = None, *,
                     batch_rows: int = 20_000) -> dict:
    """Type every kept, embedded item that has no type yet; return counts per type.

    The vectors stream out in Arrow batches of ``batch_rows`` (one batch in memory at a time,
    whatever the warehouse's size, never joined to the items inside DuckDB: see
    ``warehouse.db.vectors_matched``); each batch's types are committed before the next is read.
    """
    clf = classifier
    counts = dict.fromkeys(TYPES, 0)
    typed = 0
    # The untyped items without their vectors (narrow); the vectors stream past them (db.py).
    con.execute("CREATE OR REPLACE TEMP TABLE untyped_items AS SELECT source, external_id, "
                "clean_text, text_hash FROM items WHERE drop_reason IS NULL AND item_type IS NULL "
                "AND text_hash IS NOT NULL")
    try:
        for batch, X in vectors_matched(con, embedder.model_id, "untyped_items",
                                        "r.source, r.external_id, r.clean_text", batch_rows):
            clf = clf or ItemTypeClassifier(embedder).fit()
            types = clf.predict(X, batch["clean_text"].to_pylist())
            staged = pa.table({"source": batch["source"],  # noqa: F841 - read by DuckDB by name
                               "external_id": batch["external_id"], "item_type": types})
            with transaction(con):
                con.execute("UPDATE items SET item_type = s.item_type FROM staged s "
                            "WHERE items.source = s.source AND items.external_id = s.external_id")
            typed += len(types)
            for t in types:
                counts[t] = counts.get(t, 0) + 1
    finally:
        con.execute("DROP TABLE IF EXISTS untyped_items")
    if not typed:
        return {"typed": 0}
    return {"typed": typed, **{t: counts[t] for t in TYPES}}


__all__ = ["TYPES", "ItemTypeClassifier", "classify_pending", "dominant_type", "lexical_cues",
           "load_prototypes"]
