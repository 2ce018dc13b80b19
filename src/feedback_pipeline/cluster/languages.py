"""Keeping languages apart when clustering (detection itself is the clean stage's).

An English-only embedding model (the default) puts a French sentence wherever its shared tokens
happen to fall, so with such a model each language is clustered on its own (English and
undetermined items together); a language with too few items for a theme stays noise and is
counted in the stage's stats. A multilingual model (``embed.multilingual``, or a model name that
says so) clusters all languages together.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator

import numpy as np

from feedback_pipeline.clean.languages import PRIMARY, UNDETERMINED
from feedback_pipeline.cluster.config import ClusterConfig
from feedback_pipeline.cluster.model import NOISE, ThemeClusterer
from feedback_pipeline.embed.config import EmbedConfig

MULTILINGUAL_MARKERS = ("multilingual", "labse", "bge-m3", "multilingual-e5")


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
    X: np.ndarray, languages: list[str | None], config: ClusterConfig, *,
    per_group: Callable[[ClusterConfig, int], ClusterConfig] | None = None,
) -> tuple[np.ndarray, np.ndarray, dict]:
    """Fit one ThemeClusterer per language group; labels are made unique across groups.
    ``per_group(config, n)``: the settings for a group of ``n`` texts (a window's, window.py;
    the UMAP neighbours each group got are then in the stats).

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
        cfg = config if per_group is None else per_group(config, len(rows))
        if per_group is not None:
            stats.setdefault("umap_neighbors", {})[group] = cfg.umap_neighbors
        model = ThemeClusterer(cfg).fit(X[rows])
        found = model.labels_ != NOISE
        if not found.any():
            stats["too_few_for_a_theme"][group] = int(len(rows))
            continue
        labels[rows[found]] = model.labels_[found] + offset
        similarity[rows] = model.similarity_
        offset = int(labels.max()) + 1
    return labels, similarity, stats


__all__ = [
    "MULTILINGUAL_MARKERS", "cluster_by_language", "is_multilingual", "language_groups",
    "rows_by_group",
]
