"""The nightly flow on the full demo data, single-process vs ``[embed.dask]`` (LocalCluster).

Runs ``feedback_pipeline_flows.nightly.nightly`` twice on ``demo/feedback_demo.jsonl`` into two
fresh warehouses, the second with ``[embed.dask] enabled`` (``--workers`` processes, ``--chunk``
texts per task), then checks what issue #8 asks: the same vectors (bit for bit) and the same
themes (the same partition of items). Prints one JSON line with the per-stage seconds of both runs.

    python bench/dask_embed.py [--workers 2] [--chunk 256]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _config(folder: Path, name: str, *, dask: bool, workers: int, chunk: int) -> Path:
    config = folder / f"{name}.toml"
    config.write_text(f"""
warehouse = "{folder / f'{name}.duckdb'}"

[[sources]]
name = "demo"
path = "{ROOT / 'demo' / 'feedback_demo.jsonl'}"

[deliver]
outbox = "{folder / f'outbox-{name}'}"

[embed.dask]
enabled = {str(dask).lower()}
n_workers = {workers}
chunk_size = {chunk}
""", encoding="utf-8")
    return config


def _read(path: Path) -> tuple[dict, set, frozenset]:
    import duckdb

    from feedback_pipeline.warehouse.db import vectors_to_numpy

    con = duckdb.connect(str(path), read_only=True)
    try:
        table = con.sql("SELECT text_hash, vector FROM embeddings").to_arrow_table()
        rows = con.execute("SELECT source, external_id, theme_id FROM item_themes").fetchall()
    finally:
        con.close()
    vectors = dict(zip(table.column("text_hash").to_pylist(),
                       vectors_to_numpy(table.column("vector")), strict=True))
    groups: dict[int, set] = {}
    for source, external_id, theme in rows:
        groups.setdefault(theme, set()).add((source, external_id))
    noise = frozenset(groups.pop(-1, set()))
    return vectors, {frozenset(g) for g in groups.values()}, noise


def main() -> None:
    import numpy as np
    from prefect.testing.utilities import prefect_test_harness

    from feedback_pipeline_flows.nightly import nightly

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--chunk", type=int, default=256)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="fp-dask-"))
    result: dict = {"workers": args.workers, "chunk": args.chunk, "cpus": os.cpu_count(),
                    "load_avg_1m": round(os.getloadavg()[0], 1)}
    with prefect_test_harness(server_startup_timeout=120):
        for name, dask in (("single", False), ("dask", True)):
            start = time.perf_counter()
            stats = nightly(config_path=str(_config(folder, name, dask=dask,
                                                    workers=args.workers, chunk=args.chunk)))
            result[name] = {"total_s": round(time.perf_counter() - start, 1),
                            "stages_s": stats["seconds"], "embedded": stats["embed"]["embedded"],
                            "dask": stats["embed"].get("dask"),
                            "themes": stats["cluster"]["themes"],
                            "noise_items": stats["cluster"]["noise_items"]}
    single_v, single_themes, single_noise = _read(folder / "single.duckdb")
    dask_v, dask_themes, dask_noise = _read(folder / "dask.duckdb")
    result["same_texts"] = single_v.keys() == dask_v.keys()
    result["bit_identical_vectors"] = result["same_texts"] and all(
        np.array_equal(v, dask_v[h]) for h, v in single_v.items())
    result["max_abs_diff"] = float(max(np.abs(v - dask_v[h]).max() for h, v in single_v.items()))
    result["same_themes"] = single_themes == dask_themes and single_noise == dask_noise
    print(json.dumps(result))
    if not (result["bit_identical_vectors"] and result["same_themes"]):
        sys.exit(1)


if __name__ == "__main__":
    main()
