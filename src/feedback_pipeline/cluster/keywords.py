"""Keywords and candidate phrases per theme by class-based TF-IDF, in the theme's own language.

A theme's language is that of most of its members (the clean stage detects it per item). Each
language gets its stop words from a maintained source: scikit-learn's English list for English
(the stopwords-iso English list drops request words such as "order", "problem" or "top"), and
the stopwords-iso collection (``stopwordsiso``, data shipped in its wheel) for every other
language it has - German, French, Spanish, Portuguese, Russian, Polish, Slovenian and more.
Tokens are words of letters (Unicode: Cyrillic, Polish or Slovenian letters included);
languages that elide articles ("l'application", "dell'app") split at the apostrophe, the others
keep it ("don't"). Candidate terms are 1-3 word n-grams of consecutive words that neither start
nor end with a stop word, so "change of address" is a candidate and "payment did" is not.
c-TF-IDF (BERTopic's weighting: tf per class x log(1 + A / f_t)) runs within each language,
across the themes of that language.
"""

from __future__ import annotations

import re
import warnings
from collections import Counter
from functools import lru_cache

import numpy as np
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS, CountVectorizer

from feedback_pipeline.clean.languages import PRIMARY, UNDETERMINED
from feedback_pipeline.cluster.model import NOISE

WORD = re.compile(r"[^\W\d_](?:[\w'-]*[^\W_])?")
WORD_NO_APOSTROPHE = re.compile(r"[^\W\d_](?:[\w-]*[^\W_])?")
# Languages whose articles and pronouns elide onto the next word with an apostrophe.
ELIDING = frozenset({"fr", "it", "ca", "pt", "es"})


@lru_cache(maxsize=64)
def stop_words(language: str | None) -> frozenset[str]:
    """Stop words of ``language`` (ISO 639-1); English for undetermined or unknown ones."""
    if language in (None, "", UNDETERMINED, PRIMARY):
        return frozenset(ENGLISH_STOP_WORDS) | {"i'm", "i've", "don't", "can't", "it's"}
    import stopwordsiso

    if not stopwordsiso.has_lang(language):
        return stop_words(PRIMARY)
    return frozenset(w.lower() for w in stopwordsiso.stopwords(language))


@lru_cache(maxsize=64)
def edge_words(language: str | None) -> frozenset[str]:
    """Words a title phrase may not start or end with: the stop words, and for English also
    the long stopwords-iso list ("did", "gave", "know"), too broad for keywords ("order",
    "problem") but right for where a phrase starts and ends."""
    words = stop_words(language)
    if words == stop_words(PRIMARY):
        import stopwordsiso

        words = words | {w.lower() for w in stopwordsiso.stopwords(PRIMARY)}
    return words


def tokens(text: str, language: str | None) -> list[str]:
    pattern = WORD_NO_APOSTROPHE if language in ELIDING else WORD
    return [t.lower().strip("'-") for t in pattern.findall(text)]


def candidate_terms(text: str, language: str | None, max_words: int = 3, *,
                    stop: frozenset[str] | None = None) -> list[str]:
    """1..``max_words``-word n-grams of ``text`` that neither start nor end with a word of
    ``stop`` (default: the language's stop words)."""
    stop = stop_words(language) if stop is None else stop
    words = tokens(text, language)
    out = []
    for n in range(1, max_words + 1):
        for i in range(len(words) - n + 1):
            gram = words[i: i + n]
            edges = (gram[0], gram[-1])
            if any(w in stop or len(w) < 2 for w in edges) or len(set(gram)) < n:
                continue
            out.append(" ".join(gram))
    return out


def theme_languages(labels: np.ndarray, languages: list[str | None] | None) -> dict[int, str]:
    """The language of most members of each theme (undetermined counts as English)."""
    ids = sorted(set(labels.tolist()) - {NOISE})
    if languages is None:
        return {k: PRIMARY for k in ids}
    counts: dict[int, Counter] = {k: Counter() for k in ids}
    for lab, lang in zip(labels.tolist(), languages, strict=True):
        if lab != NOISE:
            counts[lab][PRIMARY if lang in (None, UNDETERMINED) else lang] += 1
    return {k: c.most_common(1)[0][0] for k, c in counts.items()}


def class_tfidf(texts: list[str], labels: np.ndarray,
                languages: list[str | None] | None = None) -> dict[int, list[tuple[str, float]]]:
    """Every candidate term of each theme with its c-TF-IDF score, best first."""
    language_of = theme_languages(labels, languages)
    out: dict[int, list[tuple[str, float]]] = {}
    for language in sorted(set(language_of.values())):
        ids = [k for k, lang in language_of.items() if lang == language]
        docs = [[t for t, lab in zip(texts, labels.tolist(), strict=True) if lab == k]
                for k in ids]
        vectorizer = CountVectorizer(
            analyzer=lambda doc, lang=language: [g for t in doc for g in candidate_terms(t, lang)])
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                counts = vectorizer.fit_transform(docs)
        except ValueError:  # nothing but stop words
            out.update({k: [] for k in ids})
            continue
        tf = counts.multiply(1.0 / np.maximum(counts.sum(axis=1), 1)).tocsr()
        freq = np.asarray(counts.sum(axis=0)).ravel()
        idf = np.log(1 + (counts.sum() / len(ids)) / np.maximum(freq, 1))
        scores = tf.multiply(idf).tocsr()
        terms = vectorizer.get_feature_names_out()
        for row, k in enumerate(ids):
            r = scores.getrow(row)
            order = np.argsort(-r.data, kind="stable")
            out[k] = [(str(terms[j]), float(r.data[i])) for i, j in
                      zip(order, r.indices[order], strict=True)]
    return out


def distinct_terms(scored: list[tuple[str, float]], top_k: int) -> list[str]:
    """The best ``top_k`` terms, skipping one whose words another picked term covers
    ("exchange rate" covers "exchange rates", "rate" and "rates exchange")."""
    picked: list[str] = []
    seen: list[frozenset[str]] = []
    for term, _ in scored:
        words = stem_set(term)
        if any(words <= s or s <= words for s in seen):
            continue
        picked.append(term)
        seen.append(words)
        if len(picked) == top_k:
            break
    return picked


def stem_set(term: str) -> frozenset[str]:
    return frozenset(_stem(w) for w in term.split())


def _stem(word: str) -> str:
    word = word.lower().replace("'", "")
    for suffix in ("ies", "s"):
        if word.endswith(suffix) and len(word) > len(suffix) + 2:
            return word[: -len(suffix)] + ("y" if suffix == "ies" else "")
    return word


def class_tfidf_keywords(texts: list[str], labels: np.ndarray, top_k: int,
                         languages: list[str | None] | None = None) -> dict[int, list[str]]:
    """Top ``top_k`` distinct terms per theme by c-TF-IDF, in each theme's language."""
    return {k: distinct_terms(scored, top_k)
            for k, scored in class_tfidf(texts, labels, languages).items()}


__all__ = ["candidate_terms", "class_tfidf", "class_tfidf_keywords", "distinct_terms",
           "edge_words", "stem_set", "stop_words", "theme_languages", "tokens"]
