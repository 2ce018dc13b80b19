"""Running an ONNX export of an embedding model with onnxruntime (``embed.backend = "onnx*"``).

An export folder (built by ``onnx_export.py``) holds the model graph, the model's own tokenizer
files and ``manifest.json`` (the graph's input names, the maximum sequence length). Texts are
tokenised exactly as sentence-transformers does for a text model (padding to the longest text
of the batch, truncation at ``max_seq_length``) and the graph returns one sentence vector per
text, L2-normalised here as ``encode(normalize_embeddings=True)`` does.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from types import ModuleType

import numpy as np

from feedback_pipeline.errors import ModelError

MANIFEST = "manifest.json"
# The command that installs the optional runtime, named in every error about it.
ONNX_EXTRA = ("pip install -c constraints.txt -e '.[onnx]' (in a checkout; an installed wheel: "
              "pip install 'feedback-pipeline[onnx]')")


def require_onnx(backend: str) -> tuple[ModuleType, ModuleType]:
    """``onnxruntime`` and ``onnx``, or a ModelError saying how to install them."""
    try:
        import onnx
        import onnxruntime
    except ImportError as exc:
        raise ModelError(
            f"embed.backend = {backend!r} needs onnxruntime and onnx, which are not installed "
            f"({exc.name or exc}): {ONNX_EXTRA}; or set embed.backend = 'torch'") from exc
    return onnxruntime, onnx


def _threads() -> int:
    # onnxruntime ignores OMP_NUM_THREADS, which torch honours and Dask sets to 1 in each worker
    # (one thread per worker process): without this, N workers would each start a thread per core.
    try:
        return max(0, int(os.environ.get("OMP_NUM_THREADS", "0")))
    except ValueError:
        return 0


class OnnxModel:
    """An export's tokenizer and manifest (``folder``) with a graph file, ready to encode."""

    def __init__(self, folder: Path, graph: Path, *, backend: str) -> None:
        ort, _ = require_onnx(backend)
        from transformers import AutoTokenizer

        self.folder = folder
        self.manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
        self.inputs: list[str] = self.manifest["inputs"]
        self.max_length = int(self.manifest["max_seq_length"])
        self.dim = int(self.manifest["dim"])
        options = ort.SessionOptions()
        options.intra_op_num_threads = _threads()
        options.inter_op_num_threads = 1
        options.log_severity_level = 3  # onnxruntime's own warnings are not actionable here
        self.session = ort.InferenceSession(str(graph), options,
                                            providers=["CPUExecutionProvider"])
        self.tokenizer = AutoTokenizer.from_pretrained(str(folder))

    def encode(self, texts: list[str], batch_size: int) -> np.ndarray:
        """float32 (len(texts), dim), rows L2-normalised, in the order of ``texts``."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        # Longest first, as sentence-transformers batches: similar lengths pad less.
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        for start in range(0, len(order), batch_size):
            rows = order[start:start + batch_size]
            features = self.tokenizer([texts[i] for i in rows], padding=True,
                                      truncation="longest_first", max_length=self.max_length,
                                      return_tensors="np")
            feed = {name: np.asarray(features[name], dtype=np.int64) for name in self.inputs}
            vectors = self.session.run(None, feed)[0].astype(np.float32)
            norms = np.linalg.norm(vectors, axis=1, keepdims=True)
            out[rows] = vectors / np.maximum(norms, 1e-12)
        return out


__all__ = ["MANIFEST", "ONNX_EXTRA", "OnnxModel", "require_onnx"]
