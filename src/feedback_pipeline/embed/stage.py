"""Embed stage: vectors for every kept text, cached in the warehouse.

Vectors are cached keyed by (text hash, model), the model being the embedder's ``model_id``
(``EmbedConfig.vector_key``: the model name, plus ``@onnx``/``@onnx-int8`` for those backends), so
an unchanged text is never embedded twice and switching models or backends re-embeds everything
exactly once. Vectors move between DuckDB and numpy through
Arrow, never as Python lists of floats.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import duckdb
import numpy as np
import pyarrow as pa

from feedback_pipeline.crashpoints import crashpoint
from feedback_pipeline.embed.embedder import Embedder
from feedback_pipeline.warehouse.db import transaction

CHUNK = 512  # texts per committed chunk: a crash loses at most this much work
MapChunks = Callable[[list[list[str]]], Iterable[np.ndarray]]


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



__all__ = ["CHUNK", "MapChunks", "embed_pending", "save_vectors"]
