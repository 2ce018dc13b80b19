"""Labelling: keywords by class-based TF-IDF, representative quotes, an extractive title."""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
from sklearn.feature_extraction.text import CountVectorizer

from feedback_pipeline.cluster.config import LabelConfig
from feedback_pipeline.cluster.model import NOISE
from feedback_pipeline.redact import redact

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n")


@dataclass(frozen=True)
class ThemeLabel:
    keywords: list[str]
    quote_indices: list[int]  # row indices of the most central members, most central first
    title: str


def class_tfidf_keywords(texts: list[str], labels: np.ndarray, top_k: int) -> dict[int, list[str]]:
    """Top terms per label by c-TF-IDF (BERTopic's weighting: tf per class x log(1 + A / f_t))."""
    ids = sorted(set(labels.tolist()) - {NOISE})
    if not ids:
        return {}
    docs = [" ".join(t for t, lab in zip(texts, labels, strict=True) if lab == k) for k in ids]
    vectorizer = CountVectorizer(stop_words="english", ngram_range=(1, 2), min_df=1,
                                 token_pattern=r"(?u)\b[^\W\d_][\w'-]+\b")
    try:
        counts = vectorizer.fit_transform(docs)
    except ValueError:  # only stop words
        return {k: [] for k in ids}
    tf = counts.multiply(1.0 / np.maximum(counts.sum(axis=1), 1)).tocsr()
    freq = np.asarray(counts.sum(axis=0)).ravel()
    avg_words = counts.sum() / len(ids)
    idf = np.log(1 + avg_words / np.maximum(freq, 1))
    scores = tf.multiply(idf).tocsr()
    terms = vectorizer.get_feature_names_out()
    out: dict[int, list[str]] = {}
    for row, k in enumerate(ids):
        r = scores.getrow(row)
        order = np.argsort(-r.data)
        picked: list[str] = []
        seen_words: list[frozenset[str]] = []
        for j in r.indices[order]:
            term = str(terms[j])
            words = frozenset(_stem(w) for w in term.split())
            # "exchange rate" covers "exchange rates", "rates exchange" and "rate".
            if any(words <= s or s <= words for s in seen_words):
                continue
            picked.append(term)
            seen_words.append(words)
            if len(picked) == top_k:
                break
        out[k] = picked
    return out


def _stem(word: str) -> str:
    word = word.lower().replace("'", "")
    for suffix in ("ies", "s"):
        if word.endswith(suffix) and len(word) > len(suffix) + 2:
            return word[: -len(suffix)] + ("y" if suffix == "ies" else "")
    return word


def short_title(text: str, max_chars: int) -> str:
    first = _SENTENCE_END.split(text.strip(), maxsplit=1)[0].strip()
    if len(first) <= max_chars:
        return first
    cut = first.rfind(" ", 0, max_chars - 1)
    return first[: cut if cut > max_chars // 2 else max_chars - 1].rstrip(" ,;:") + "…"


def label_themes(
    texts: list[str], labels: np.ndarray, similarity: np.ndarray, config: LabelConfig
) -> dict[int, ThemeLabel]:
    """Label every theme in ``labels`` (rows aligned with ``texts`` and ``similarity``)."""
    # Keywords are counted on redacted texts: a handle or a name in an e-mail is never a keyword.
    keywords = class_tfidf_keywords([redact(t) for t in texts], labels, config.keywords)
    result: dict[int, ThemeLabel] = {}
    for k, words in keywords.items():
        rows = np.flatnonzero(labels == k)
        rows = rows[np.argsort(-similarity[rows], kind="stable")]
        quotes: list[int] = []
        seen: set[str] = set()
        for r in rows:
            norm = " ".join(texts[r].lower().split())
            if norm in seen:
                continue
            seen.add(norm)
            quotes.append(int(r))
            if len(quotes) == config.quotes:
                break
        # The title is the most central of the few most central texts, preferring short ones.
        head = quotes[: max(3, len(quotes))]
        best = min(head, key=lambda r: (len(short_title(texts[r], 10_000)) > config.title_max_chars,
                                        head.index(r)))
        # Secrets and personal data are never a title (the outputs redact again, whatever this is).
        result[k] = ThemeLabel(words, quotes,
                               redact(short_title(texts[best], config.title_max_chars)))
    return result


__all__ = ["ThemeLabel", "class_tfidf_keywords", "label_themes", "short_title"]
