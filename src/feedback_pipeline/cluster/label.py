"""Labelling: keywords, a title that names the request, its most representative sentence, quotes.

- **Keywords**: class-based TF-IDF in the theme's language (keywords.py).
- **Title**: a short phrase from the theme's own words. The theme's best c-TF-IDF candidate
  phrases (1-3 words) are re-ranked by the cosine of their embedding to the theme's centroid,
  as BERTopic's KeyBERT-inspired representation does, with the model that embedded the items
  (no other model); a phrase of two or more words wins when it is nearly as close as the best
  single word, since "card payment declined" names a request and "declined" does not. Without
  an embedder (or vectors) the best c-TF-IDF phrase is the title. Two themes of one labelling
  never share a title: the later one takes its next phrase.
- **Sentence**: the most representative customer sentence (the most central short member text),
  kept beside the title; it was the title before titles were phrases.
- **Quotes**: chosen by maximal marginal relevance (closeness to the centroid, minus likeness to
  the quotes already chosen), so five quotes cover the theme rather than paraphrase one sentence.

Titles, sentences and keywords go through ``redact``: a secret or an address never becomes one.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from feedback_pipeline.cluster.config import LabelConfig
from feedback_pipeline.cluster.keywords import (
    class_tfidf,
    distinct_terms,
    edge_words,
    stem_set,
    theme_languages,
)
from feedback_pipeline.redact import redact

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n")
Embed = Callable[[list[str]], np.ndarray]
CANDIDATES = 12  # c-TF-IDF phrases re-ranked per theme
PHRASE_SLACK = 0.05  # how much closer a single word must be to beat a phrase
MMR_LAMBDA = 0.5  # weight of relevance against novelty when choosing quotes


@dataclass(frozen=True)
class ThemeLabel:
    keywords: list[str]
    quote_indices: list[int]  # row indices of the quotes, the most representative first
    title: str
    sentence: str = ""  # the most representative customer sentence


def short_title(text: str, max_chars: int) -> str:
    first = _SENTENCE_END.split(text.strip(), maxsplit=1)[0].strip()
    if len(first) <= max_chars:
        return first
    cut = first.rfind(" ", 0, max_chars - 1)
    return first[: cut if cut > max_chars // 2 else max_chars - 1].rstrip(" ,;:") + "…"


def mmr_quotes(texts: list[str], rows: np.ndarray, relevance: np.ndarray,
               vectors: np.ndarray | None, count: int) -> list[int]:
    """Up to ``count`` rows by maximal marginal relevance; exact repeats are never chosen twice.

    ``relevance`` (aligned with ``rows``) is each member's cosine to the centroid; without
    ``vectors`` the most relevant distinct texts are taken.
    """
    order = np.argsort(-relevance, kind="stable")
    seen: set[str] = set()
    pool: list[int] = []  # positions in rows, distinct texts, most relevant first
    for i in order:
        norm = " ".join(texts[rows[i]].lower().split())
        if norm not in seen:
            seen.add(norm)
            pool.append(int(i))
    if vectors is None or len(pool) <= count:
        return [int(rows[i]) for i in pool[:count]]
    pool = pool[: 20 * count]  # the far tail of a big theme is never a quote anyway
    V = vectors[rows[pool]]
    chosen = [0]
    novelty = V @ V[0]
    while len(chosen) < count:
        score = MMR_LAMBDA * relevance[pool] - (1 - MMR_LAMBDA) * novelty
        score[chosen] = -np.inf
        best = int(score.argmax())
        chosen.append(best)
        novelty = np.maximum(novelty, V @ V[best])
    return [int(rows[pool[i]]) for i in chosen]


def _phrase_title(scored: list[tuple[str, float]], centroid: np.ndarray | None,
                  embed: Embed | None, taken: set[frozenset[str]], language: str) -> str:
    """The candidate phrase that names the theme (see the module docstring)."""
    edges = edge_words(language)
    candidates = [t for t, _ in scored[: CANDIDATES * 4]
                  if t.split()[0] not in edges and t.split()[-1] not in edges
                  and stem_set(t) not in taken][:CANDIDATES]
    if not candidates:
        return ""
    if embed is None or centroid is None:
        multi = [t for t in candidates if " " in t]
        return (multi or candidates)[0]
    sim = np.asarray(embed(candidates), np.float32) @ centroid
    best = float(sim.max())
    multi = [i for i, t in enumerate(candidates) if " " in t and sim[i] >= best - PHRASE_SLACK]
    pick = max(multi, key=lambda i: sim[i]) if multi else int(sim.argmax())
    return candidates[pick]


def _capitalise(phrase: str) -> str:
    return phrase[:1].upper() + phrase[1:]


def label_themes(
    texts: list[str], labels: np.ndarray, similarity: np.ndarray, config: LabelConfig, *,
    vectors: np.ndarray | None = None, embed: Embed | None = None,
    languages: list[str | None] | None = None,
) -> dict[int, ThemeLabel]:
    """Label every theme in ``labels`` (rows aligned with ``texts``, ``similarity`` and, when
    given, ``vectors`` - the texts' embeddings - and ``languages``). ``embed`` is the model
    that made ``vectors``; it embeds the candidate phrases."""
    # Terms are counted on redacted texts: a handle or a name in an e-mail is never a keyword.
    scored_terms = class_tfidf([redact(t) for t in texts], labels, languages)
    language_of = theme_languages(labels, languages)
    result: dict[int, ThemeLabel] = {}
    taken: set[frozenset[str]] = set()
    for k in sorted(scored_terms, key=lambda k: -int((labels == k).sum())):
        scored = scored_terms[k]
        rows = np.flatnonzero(labels == k)
        centroid = None
        if vectors is not None:
            total = vectors[rows].sum(axis=0)
            centroid = (total / max(float(np.linalg.norm(total)), 1e-12)).astype(np.float32)
        relevance = similarity[rows].astype(np.float32)
        quotes = mmr_quotes(texts, rows, relevance, vectors, config.quotes)
        # The sentence: the most central of the few most central texts, preferring short ones.
        head = [int(rows[i]) for i in np.argsort(-relevance, kind="stable")[:3]]
        best = min(head, key=lambda r: (len(short_title(texts[r], 10_000)) > config.title_max_chars,
                                        head.index(r)))
        sentence = redact(short_title(texts[best], config.title_max_chars))
        phrase = _phrase_title(scored, centroid, embed, taken, language_of[k])
        taken.add(stem_set(phrase))
        title = redact(short_title(_capitalise(phrase), config.title_max_chars)) if phrase \
            else sentence
        keywords = [redact(w) for w in distinct_terms(scored, config.keywords)]
        result[k] = ThemeLabel(keywords, quotes, title, sentence)
    return result


__all__ = ["ThemeLabel", "label_themes", "mmr_quotes", "short_title"]
