"""Embeddings of the benchmark texts cached on disk, so benchmark iterations never re-encode.

``CachedEmbedder`` wraps the pipeline's embedder: vectors are looked up by (model, text) in
``bench/out/vectors-<model>.npz`` (git-ignored) and only unseen texts reach the model. The
vectors are the model's own, so a cached run scores exactly like an uncached one.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402

from feedback_pipeline.embed.embedder import Embedder  # noqa: E402

CACHE_DIR = Path(__file__).resolve().parent / "out"


def _key(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


class CachedEmbedder(Embedder):
    """``base``'s vectors, cached per text on disk."""

    def __init__(self, base: Embedder, folder: Path = CACHE_DIR) -> None:
        self.base = base
        self.model_id = base.model_id
        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / f"vectors-{self.model_id.replace('/', '_')}.npz"
        self.store: dict[str, np.ndarray] = {}
        if self.path.exists():
            with np.load(self.path) as data:
                self.store = {k: data[k] for k in data.files}
        self.encoded = 0

    @property
    def dim(self) -> int:
        if self.store:  # no model load when everything is cached
            return len(next(iter(self.store.values())))
        return self.base.dim

    def embed(self, texts: list[str]) -> np.ndarray:
        missing = sorted({t for t in texts if _key(t) not in self.store})
        if missing:
            for t, v in zip(missing, self.base.embed(missing), strict=True):
                self.store[_key(t)] = np.asarray(v, dtype=np.float32)
            self.encoded += len(missing)
            tmp = self.path.with_suffix(f".{os.getpid()}.tmp.npz")
            np.savez(tmp, **self.store)
            tmp.replace(self.path)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([self.store[_key(t)] for t in texts])


def cached_pipeline_embedder(settings=None) -> CachedEmbedder:
    from feedback_pipeline.config import Settings
    from feedback_pipeline.pipeline import embedder_for

    return CachedEmbedder(embedder_for(settings or Settings()))


__all__ = ["CachedEmbedder", "cached_pipeline_embedder"]
