"""ONNX exports of the embedding model, built on this machine from its local weights.

Nothing is downloaded: the model folder sentence-transformers would load (the packaged default
model, a local path, or a hub name already in ``cache_folder``) is loaded once with torch and
its whole module chain (transformer, pooling, any dense layer, normalize) traced into one ONNX
graph, ``model.onnx``. ``model-int8.onnx`` is that graph with its weights quantised to int8 by
onnxruntime's dynamic quantisation, per output channel: per-tensor scales (onnxruntime's
default) cost far more accuracy on this model (BENCHMARKS.md, "Embedding backends").

Exports live in ``<onnx folder>/<model>-<fingerprint>/``; the fingerprint hashes every file of
the model folder, so other weights get another export and a stale one is never used. A
missing, partial or unreadable export is rebuilt. Files are written under temporary names and
renamed into place, the manifest last, so processes building at once (Dask workers on one
machine) never read half a file. Before an fp32 export is kept, its vectors are checked against
sentence-transformers' own on probe texts: a model whose preprocessing the export does not
reproduce is refused with a clear error instead of embedding differently.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import tempfile
import warnings
from pathlib import Path

import numpy as np

from feedback_pipeline.embed.config import EmbedConfig
from feedback_pipeline.embed.onnx_runtime import MANIFEST, OnnxModel, require_onnx
from feedback_pipeline.errors import ModelError

log = logging.getLogger(__name__)

FP32, INT8 = "model.onnx", "model-int8.onnx"
PROBE_VECTORS = "probes.npy"  # the model's own vectors of PROBES, to check the int8 graph
GRAPH = {"onnx": FP32, "onnx-int8": INT8}
OPSET = 17
# The fp32 export must reproduce torch's vectors to float rounding; int8 within what per-channel
# dynamic quantisation gives on real texts (min cosine 0.974 on Banking77 + Stack Exchange):
# below these the export is broken, not just quantised.
MIN_COSINE = {FP32: 0.9999, INT8: 0.95}
# Short and long, cased and not, a text past 256 tokens (truncation), non-ASCII, padding.
PROBES = [
    "I still have not received my new card, how long does delivery take?",
    "why was I charged TWICE for the same purchase??",
    "ok",
    "Le virement n'est pas arrivé sur mon compte après trois jours.",
    "  leading and trailing spaces  ",
    "How do I enable two-factor authentication on the mobile app? " * 40,
    "emoji 🙂 and symbols: ü ß ç © €",
]


def default_folder(config: EmbedConfig) -> Path:
    if config.onnx_folder is not None:
        return config.onnx_folder
    if config.cache_folder is not None:
        return config.cache_folder / "onnx"
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "feedback-pipeline" / "onnx"


def local_model_dir(source: str, cache_folder: Path | None) -> Path:
    """The folder holding the model's files: ``source`` itself, or its copy in the hub cache."""
    if Path(source).is_dir():
        return Path(source)
    from huggingface_hub import snapshot_download

    for repo in dict.fromkeys([source, f"sentence-transformers/{source}"]):
        try:
            return Path(snapshot_download(repo, cache_dir=str(cache_folder) if cache_folder
                                          else None, local_files_only=True))
        except Exception:  # noqa: BLE001, S112 - not cached under this name: try the next
            continue
    raise ModelError(
        f"embed.backend onnx exports the model from its files on this machine, and "
        f"{source!r} is neither a local folder nor in the model cache "
        f"({cache_folder or 'the default hub cache'}): run once with embed.backend = 'torch' "
        "where the model can be fetched, or set embed.model to a local folder")


def fingerprint(model_dir: Path) -> str:
    """sha256 over every file's relative path and bytes (the weights included)."""
    digest = hashlib.sha256()
    for path in sorted(p for p in model_dir.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(model_dir)).encode() + b"\0")
        with path.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
        digest.update(b"\0")
    return digest.hexdigest()


def export_dir(config: EmbedConfig, print_: str) -> Path:
    """Where the exports of the model whose files have fingerprint ``print_`` live."""
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", config.model).strip("_.")[-60:] or "model"
    return default_folder(config) / f"{slug}-{print_[:16]}"


def _min_cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.min(np.sum(a * b, axis=1)))


def _trace(st, folder: Path) -> list[str]:  # noqa: ANN001 - SentenceTransformer
    """Write the module chain as ``folder/model.onnx``; return the graph's input names."""
    import torch

    features = st.preprocess(PROBES[:2])
    names = [n for n in ("input_ids", "attention_mask", "token_type_ids") if n in features]
    if "input_ids" not in names or "attention_mask" not in names:
        raise ModelError(f"cannot export {list(features)} inputs to ONNX: only text models "
                         "(input_ids, attention_mask) are supported; use embed.backend = 'torch'")

    class Chain(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.st = st

        def forward(self, *tensors: torch.Tensor) -> torch.Tensor:
            return self.st(dict(zip(names, tensors, strict=True)))["sentence_embedding"]

    axes = {n: {0: "batch", 1: "tokens"} for n in names} | {"sentence_embedding": {0: "batch"}}
    with torch.no_grad(), warnings.catch_warnings():
        # The tracer warns about every Python branch on a shape; the probe check below is what
        # tells whether the graph generalises.
        warnings.simplefilter("ignore")
        # The TorchScript exporter: the dynamo one needs onnxscript, one more dependency, for
        # the same graph on this model.
        torch.onnx.export(Chain().eval(), tuple(features[n] for n in names), str(folder / FP32),
                          input_names=names, output_names=["sentence_embedding"],
                          dynamic_axes=axes, opset_version=OPSET, dynamo=False)
    return names


def _quantise(source: Path, target: Path) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    # The quantiser logs a line per tensor on the root logger; none of it is actionable.
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        quantize_dynamic(str(source), str(target), weight_type=QuantType.QInt8, per_channel=True)
    finally:
        root.setLevel(level)


def _check(folder: Path, graph: Path, reference: np.ndarray, backend: str) -> None:
    """Refuse a graph whose vectors on the probe texts stray from sentence-transformers'."""
    vectors = OnnxModel(folder, graph, backend=backend).encode(PROBES, batch_size=4)
    worst = _min_cosine(vectors, reference)
    if worst < MIN_COSINE[graph.name]:
        fix = "'onnx' or 'torch'" if graph.name == INT8 else "'torch'"
        raise ModelError(
            f"the ONNX export {graph.name} does not reproduce the model's own vectors (min cosine "
            f"{worst:.4f} < {MIN_COSINE[graph.name]} on probe texts), so it is not used: this "
            f"model is not covered by embed.backend = {backend!r}; use {fix}")


def _build_fp32(config: EmbedConfig, model_dir: Path, print_: str, target: Path,
                tmp: Path) -> None:
    from sentence_transformers import SentenceTransformer

    st = SentenceTransformer(str(model_dir), device="cpu").eval()
    names = _trace(st, tmp)
    st.tokenizer.save_pretrained(str(tmp))
    reference = st.encode(PROBES, batch_size=4, normalize_embeddings=True,
                          convert_to_numpy=True, show_progress_bar=False)
    import onnxruntime
    import torch

    manifest = {"model": config.model, "model_dir": str(model_dir),
                "fingerprint": print_, "inputs": names,
                "max_seq_length": int(st.max_seq_length),
                "dim": int(reference.shape[1]), "opset": OPSET,
                "torch": torch.__version__, "onnxruntime": onnxruntime.__version__,
                "int8": "dynamic, QInt8 weights, per channel"}
    (tmp / MANIFEST).write_text(json.dumps(manifest, indent=1), encoding="utf-8")
    _check(tmp, tmp / FP32, reference, config.backend)
    np.save(tmp / PROBE_VECTORS, reference.astype(np.float32))
    target.mkdir(parents=True, exist_ok=True)
    for name in sorted(os.listdir(tmp), key=lambda n: n == MANIFEST):  # manifest last
        os.replace(tmp / name, target / name)


def _open(target: Path, graph: str, backend: str) -> OnnxModel | None:
    """The export's graph ready to run, or None when it is missing or unreadable."""
    if not ((target / MANIFEST).is_file() and (target / graph).is_file()):
        return None
    try:
        return OnnxModel(target, target / graph, backend=backend)
    except Exception as exc:  # noqa: BLE001 - any unreadable file means: build it again
        log.warning("ONNX export %s is unreadable (%s): rebuilding it", target / graph, exc)
        return None


def load_export(config: EmbedConfig, source: str) -> OnnxModel:
    """The ``config.backend`` graph of the model, built first when missing or unreadable.

    ``source`` is what sentence-transformers would load (``embedder.resolve_model``).
    """
    require_onnx(config.backend)
    graph = GRAPH[config.backend]
    model_dir = local_model_dir(source, config.cache_folder)
    print_ = fingerprint(model_dir)
    target = export_dir(config, print_)
    model = _open(target, graph, config.backend)
    if model is not None:
        return model
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        if graph == FP32 or _open(target, FP32, config.backend) is None \
                or not (target / PROBE_VECTORS).is_file():
            log.info("exporting %s to ONNX in %s (once; from %s)", config.model, target, model_dir)
            _build_fp32(config, model_dir, print_, target, tmp)
        if graph == INT8:
            log.info("quantising the ONNX export of %s to int8", config.model)
            # The quantiser writes a shape-inferred copy beside its source (model-inferred.onnx):
            # from the shared folder, workers quantising at once read each other's half-written
            # copy ("Failed to find proper ai.onnx domain"). A private copy keeps it private.
            shutil.copyfile(target / FP32, tmp / FP32)
            _quantise(tmp / FP32, tmp / INT8)
            _check(target, tmp / INT8, np.load(target / PROBE_VECTORS), config.backend)
            os.replace(tmp / INT8, target / INT8)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    model = _open(target, graph, config.backend)
    if model is None:
        raise ModelError(f"the ONNX export in {target} was built but cannot be loaded "
                         "(see the warning above); remove that folder and run again")
    return model


__all__ = ["FP32", "GRAPH", "INT8", "MIN_COSINE", "PROBES", "default_folder", "export_dir",
           "fingerprint", "load_export", "local_model_dir"]
