"""Loading and clustering the corpus, kept apart from how themes keep their identity.

A full re-cluster, the incremental night and a person's split all start from the same picture of
the kept, embedded items (one vector per unique text, each item pointing at its text); here they
share it without depending on how clusters are matched to stored themes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

import duckdb
import numpy as np
import pyarrow as pa

from feedback_pipeline.cluster.config import ClusterConfig
from feedback_pipeline.cluster.languages import cluster_by_language
from feedback_pipeline.cluster.model import NOISE, ThemeClusterer
from feedback_pipeline.cluster.window import Window, window_config, window_texts
from feedback_pipeline.warehouse.db import arrow_query, vectors_to_numpy


@dataclass
class Clustering:
    """Items, their unique texts' vectors and (once fitted) a label per unique text."""

    keys: list[tuple[str, str]]  # (source, external_id) per item
    urls: list[str | None]  # per item
    item_rows: np.ndarray  # item -> row in X
    texts: list[str]  # per unique text
    text_hashes: list[str]  # per unique text
    X: np.ndarray
    labels: np.ndarray  # per unique text
    similarity: np.ndarray  # per unique text
    # Items per language group and languages too small for a theme (see languages.py).
    language_stats: dict = field(default_factory=dict)
    # Set when the corpus is a window of a bigger warehouse (window.py): the rest is assigned.
    window: Window | None = None

    @property
    def item_labels(self) -> np.ndarray:
        return self.labels[self.item_rows] if len(self.item_rows) else np.zeros(0, dtype=np.int64)

    def item_vectors(self) -> np.ndarray:
        return self.X[self.item_rows]


def load_corpus(con: duckdb.DuckDBPyConnection, model_id: str, *, where: str = "TRUE",
                params: list | None = None) -> Clustering:
    """Kept, embedded items (optionally filtered by ``where`` on alias ``i``), unclustered."""
    table = arrow_query(
        con,
        f"""
        SELECT i.source, i.external_id, i.url, i.text_hash, i.clean_text AS text, e.vector
        FROM items i JOIN embeddings e ON e.text_hash = i.text_hash AND e.model = $model
        WHERE i.drop_reason IS NULL AND ({where})
        ORDER BY i.text_hash, i.source, i.external_id
        """,
        {"model": model_id, **dict(params or {})},
    )
    keys = list(zip(table["source"].to_pylist(), table["external_id"].to_pylist(), strict=True))
    hashes = table["text_hash"].to_pylist()
    first: dict[str, int] = {}
    item_rows = np.empty(len(hashes), dtype=np.int64)
    unique_idx: list[int] = []
    for i, h in enumerate(hashes):
        if h not in first:
            first[h] = len(unique_idx)
            unique_idx.append(i)
        item_rows[i] = first[h]
    texts_all = table["text"].to_pylist()
    X = vectors_to_numpy(table["vector"].take(pa.array(unique_idx, type=pa.int64())))
    n = len(unique_idx)
    return Clustering(keys, table["url"].to_pylist(), item_rows, [texts_all[i] for i in unique_idx],
                      [hashes[i] for i in unique_idx], X, np.full(n, NOISE, dtype=np.int64),
                      np.zeros(n, dtype=np.float32))


def text_languages(con: duckdb.DuckDBPyConnection,
                   hashes: list[str] | None = None) -> dict[str, str | None]:
    """The detected language of each kept text (only ``hashes``, when given), by text hash."""
    only = "AND text_hash IN (SELECT unnest($hashes))" if hashes is not None else ""
    return dict(con.execute("SELECT text_hash, any_value(language) FROM items "
                            f"WHERE drop_reason IS NULL {only} GROUP BY text_hash",
                            {"hashes": hashes} if hashes is not None else {}).fetchall())


def cluster_corpus(con: duckdb.DuckDBPyConnection, model_id: str, config: ClusterConfig, *,
                   split_languages: bool = True, until: datetime | None = None) -> Clustering:
    """Cluster every kept, embedded item created up to ``until``; ``split_languages`` clusters
    each language apart (right for an English-only model, see languages.py). Above
    ``config.window_size`` unique texts only a window of them is clustered here and
    ``corpus.window`` says how to assign the rest (window.py, done by ``save_clustering``)."""
    until = until or datetime.max.replace(tzinfo=UTC)
    hashes = window_texts(con, model_id, config, until)
    if hashes is None:
        corpus = load_corpus(con, model_id, where="i.created_at <= $until", params={"until": until})
    else:
        corpus = load_corpus(con, model_id, where="i.created_at <= $until AND i.text_hash IN "
                             "(SELECT unnest($window))", params={"until": until, "window": hashes})
        corpus.window = Window(model_id, until, pa.array(hashes, pa.string()), config,
                               split_languages)
    # A window's UMAP neighbourhood grows with each language group in it (window.py); below
    # the window every group is clustered as it always was.
    per_group = window_config if corpus.window is not None else None
    if len(corpus.X) and split_languages:
        language = text_languages(con, corpus.text_hashes if corpus.window else None)
        corpus.labels, corpus.similarity, corpus.language_stats = cluster_by_language(
            corpus.X, [language.get(h) for h in corpus.text_hashes], config,
            per_group=per_group)
    elif len(corpus.X):
        if per_group is not None:
            config = per_group(config, len(corpus.X))
            corpus.language_stats = {"umap_neighbors": {"all": config.umap_neighbors}}
        model = ThemeClusterer(config).fit(corpus.X)
        corpus.labels, corpus.similarity = model.labels_, model.similarity_
    if corpus.window is not None:
        corpus.window.stats["umap_neighbors"] = corpus.language_stats.get("umap_neighbors", {})
    return corpus


def unit(v: np.ndarray) -> np.ndarray:
    norm = np.linalg.norm(v, axis=-1, keepdims=True)
    return (v / np.maximum(norm, 1e-12)).astype(np.float32)


__all__ = [
    "Clustering", "cluster_corpus", "load_corpus", "text_languages", "unit",
]
