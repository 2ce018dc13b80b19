"""Languages: detect each item's language offline, and keep languages apart when clustering.

Detection uses py3langid (a maintained fork of langid.py: a 4.5 MB naive-Bayes model over byte
n-grams, no network, ~0.3 ms per short text). It is restricted to the languages a software
community plausibly writes in, which removes most confusions on short English texts (on the
3,080 Banking77 test queries: 5 non-English guesses unrestricted, none restricted). A guess whose
normalised probability is below ``MIN_CONFIDENCE`` is stored as ``und`` (undetermined).

Clustering: an English-only embedding model (the default) puts a French sentence wherever its
shared tokens happen to fall, so with such a model each language is clustered on its own (English
and undetermined items together); a language with too few items for a theme stays noise and is
counted in the stage's stats. A multilingual model (``embed.multilingual``, or a model name that
says ``multilingual``) clusters all languages together.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from functools import lru_cache

import numpy as np

from .cluster import NOISE, ThemeClusterer
from .config import ClusterConfig, EmbedConfig
from .errors import ModelError

UNDETERMINED = "und"
PRIMARY = "en"  # what the English-only default model understands
MIN_CONFIDENCE = 0.3
# ISO 639-1 codes py3langid knows; what users of a software product plausibly write in.
LANGUAGES = (
    "en", "de", "fr", "es", "pt", "it", "nl", "pl", "sv", "da", "no", "fi", "cs", "sk", "hu",
    "ro", "bg", "el", "ru", "uk", "tr", "ar", "he", "hi", "id", "vi", "th", "ja", "zh", "ko",
)
MULTILINGUAL_MARKERS = ("multilingual", "labse", "bge-m3", "multilingual-e5")


@lru_cache(maxsize=1)
def _identifier():  # noqa: ANN202 - py3langid's LanguageIdentifier, imported lazily
    try:
        from py3langid.langid import MODEL_FILE, LanguageIdentifier
    except ImportError as exc:
        raise ModelError("language detection needs py3langid: pip install py3langid") from exc
    identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    identifier.set_languages(list(LANGUAGES))
    return identifier


def detect_language(text: str) -> str:
    """ISO 639-1 code of ``text``'s language, or ``und`` when unsure or empty."""
    if not text or not text.strip():
        return UNDETERMINED
    lang, prob = _identifier().classify(text)
    return str(lang) if prob >= MIN_CONFIDENCE else UNDETERMINED


def is_multilingual(config: EmbedConfig) -> bool:
    """``embed.multilingual`` if set, else whether the model's name says it is multilingual."""
    if config.multilingual is not None:
        return config.multilingual
    name = config.model.lower()
    return any(marker in name for marker in MULTILINGUAL_MARKERS)


def language_groups(languages: list[str | None]) -> list[str]:
    """The clustering group of each text: its language; English and undetermined share one."""
    return [PRIMARY if lang in (None, PRIMARY, UNDETERMINED) else lang for lang in languages]


def rows_by_group(groups: np.ndarray) -> Iterator[tuple[str, np.ndarray]]:
    """Each language group in ``groups`` (largest first) with the indices of its rows."""
    for group, _ in Counter(groups.tolist()).most_common():
        yield group, np.flatnonzero(groups == group)


def cluster_by_language(
    X: np.ndarray, languages: list[str | None], config: ClusterConfig
) -> tuple[np.ndarray, np.ndarray, dict]:
    """Fit one ThemeClusterer per language group; labels are made unique across groups.

    Returns:
        (labels, similarity, stats): per row of ``X``; stats count items per group and those
        left as noise because their language has too few items to form a theme.
    """
    groups = np.array(language_groups(languages), dtype=object)
    labels = np.full(len(X), NOISE, dtype=np.int64)
    similarity = np.zeros(len(X), dtype=np.float32)
    counts = Counter(groups.tolist())
    stats: dict = {"languages": dict(counts.most_common()), "too_few_for_a_theme": {}}
    offset = 0
    for group, rows in rows_by_group(groups):
        model = ThemeClusterer(config).fit(X[rows])
        found = model.labels_ != NOISE
        if not found.any():
            stats["too_few_for_a_theme"][group] = int(len(rows))
            continue
        labels[rows[found]] = model.labels_[found] + offset
        similarity[rows] = model.similarity_
        offset = int(labels.max()) + 1
    return labels, similarity, stats


__all__ = [
    "LANGUAGES", "PRIMARY", "UNDETERMINED", "cluster_by_language", "detect_language",
    "is_multilingual", "language_groups", "rows_by_group",
]
