"""Embedding backends side by side in one run: torch fp32, onnx fp32, onnx int8 (issue #17).

On the same texts (Banking77 test + the Stack Exchange posts from ../shared/data), in one process:

* speed: ``Embedder.embed(texts)`` per backend, the backends interleaved round by round
  (``--repeats``), so a busy machine slows them alike; texts/s is the median over the rounds,
  the speed-up the median of the per-round ratios to torch;
* closeness: the cosine of each text's vector to torch's (max and mean deviation 1 - cos);
* quality: the pipeline (clean -> embed -> cluster, ``bench/quality.py``'s ``run_pipeline``) on
  Banking77 test with each backend, NMI/ARI against the intents;
* the one-off cost of building the ONNX exports from the local weights (a fresh folder).

``--dask 2,4`` adds embedding throughput on a Dask LocalCluster of that many worker processes
(one thread each; ``flows/dask.py``'s mapper, as the nightly flow uses it) for each
``--dask-backends``, against the single process in the same run.

    python bench/embed_backends.py [--repeats 3] [--dask 2,4] [--dask-backends torch,onnx-int8]

Replaces the block between ``<!-- embed-backends:start -->`` and ``<!-- embed-backends:end -->``
of BENCHMARKS.md (``--out``) and prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import numpy as np  # noqa: E402
from quality import load_texts, run_pipeline, scores  # noqa: E402

from feedback_pipeline.config import load_settings  # noqa: E402
from feedback_pipeline.embed.config import EmbedConfig  # noqa: E402
from feedback_pipeline.embed.embedder import get_embedder  # noqa: E402

DATA = ROOT.parent / "shared" / "data"
BACKENDS = ["torch", "onnx", "onnx-int8"]
START, END = "<!-- embed-backends:start -->", "<!-- embed-backends:end -->"


def corpus() -> tuple[list[str], list[str], int]:
    """Banking77 test + Stack Exchange texts, their labels, and how many are Banking77."""
    bank, bank_labels = load_texts(DATA / "banking77.csv", "text", "label", "test")
    se, se_labels = load_texts(DATA / "community_posts_stackexchange.csv", "text", "label", "")
    return bank + se, bank_labels + [f"se:{x}" for x in se_labels], len(bank)


def build_exports(folder: Path) -> dict:
    """Seconds to build each ONNX export from the weights, in a fresh folder (one-off cost)."""
    out = {}
    for backend in BACKENDS[1:]:
        t0 = time.perf_counter()
        get_embedder(EmbedConfig(backend=backend, onnx_folder=folder)).embed(["warm up"])
        out[backend] = round(time.perf_counter() - t0, 1)
    return out


def speed(embedders: dict, texts: list[str], repeats: int) -> dict:
    seconds: dict[str, list[float]] = {b: [] for b in embedders}
    vectors = {}
    for _ in range(repeats):
        for backend, embedder in embedders.items():  # interleaved: same load for each
            t0 = time.perf_counter()
            vectors[backend] = embedder.embed(texts)
            seconds[backend].append(time.perf_counter() - t0)
    out = {}
    for backend, secs in seconds.items():
        cos = np.sum(vectors[backend] * vectors["torch"], axis=1)
        out[backend] = {
            "seconds": [round(s, 2) for s in secs],
            "texts_per_s": round(len(texts) / statistics.median(secs), 1),
            "speedup": round(statistics.median(t / s for t, s in
                                               zip(seconds["torch"], secs, strict=True)), 2),
            "max_dev": float(1 - cos.min()), "mean_dev": float(1 - cos.mean()),
            "min_cos": float(cos.min())}
    return out, vectors


def batch_dependence(vectors: dict, texts: list[str], folder: Path, n: int = 300) -> dict:
    """Min cosine between each text's vector embedded alone and within the batches of 64
    above: how much a vector depends on the texts batched with it."""
    sample = list(range(0, len(texts), max(1, len(texts) // n)))[:n]
    out = {}
    for backend, batched in vectors.items():
        alone = get_embedder(EmbedConfig(backend=backend, onnx_folder=folder, batch_size=1))
        v = alone.embed([texts[i] for i in sample])
        out[backend] = float(np.sum(v * batched[sample], axis=1).min())
    return out


def quality(embedders: dict, texts: list[str], truth: list[str]) -> dict:
    settings = load_settings(None)
    out = {}
    for backend, embedder in embedders.items():
        run = run_pipeline(texts, embedder, settings, cluster=True)
        s = scores(truth, run["labels"], run["cluster"])
        out[backend] = {k: round(float(v), 4) for k, v in s.items()}
    return out


def dask_throughput(texts: list[str], workers: list[int], backends: list[str],
                    onnx_folder: Path, chunk: int) -> list[dict]:
    from prefect import flow
    from prefect.testing.utilities import prefect_test_harness

    from feedback_pipeline.embed.config import DaskConfig
    from feedback_pipeline_flows.dask import dask_chunk_mapper

    chunks = [texts[i:i + chunk] for i in range(0, len(texts), chunk)]

    # Enough small chunks that every worker gets one and loads its model before the timed pass.
    warm = [[f"warm up {i}"] for i in range(4 * max(workers))]

    @flow(name="bench-dask-embed")
    def run(config_json: str) -> dict:
        config = EmbedConfig.model_validate_json(config_json)
        t0 = time.perf_counter()
        with dask_chunk_mapper(config) as mapper:
            for _ in mapper(chunks):
                pass
            cold = time.perf_counter() - t0
            cold_workers = mapper.summary()["workers"]
            for _ in mapper(warm):
                pass
            t1 = time.perf_counter()
            for _ in mapper(chunks):
                pass
            warm_s = time.perf_counter() - t1
            summary = mapper.summary()
        return {"cold_s": round(cold, 1), "cold_texts_per_s": round(len(texts) / cold, 1),
                "warm_s": round(warm_s, 1), "texts_per_s": round(len(texts) / warm_s, 1),
                "workers_used": cold_workers, "workers_warm": summary["workers"]}

    rows = []
    with prefect_test_harness(server_startup_timeout=120):
        for backend in backends:
            for n in workers:
                config = EmbedConfig(backend=backend, onnx_folder=onnx_folder, dask=DaskConfig(
                    enabled=True, n_workers=n, threads_per_worker=1, chunk_size=chunk))
                rows.append({"backend": backend, "workers": n,
                             "load_avg_1m": round(os.getloadavg()[0], 1),
                             **run(config.model_dump_json())})
                print(json.dumps(rows[-1]), flush=True)
    return rows


def single_process(texts: list[str], backend: str, onnx_folder: Path) -> dict:
    """The same texts in this process, chunk by chunk as the stage does, model already loaded."""
    embedder = get_embedder(EmbedConfig(backend=backend, onnx_folder=onnx_folder))
    embedder.embed(["warm up"])
    t0 = time.perf_counter()
    embedder.embed(texts)
    total = time.perf_counter() - t0
    return {"backend": backend, "workers": 0, "load_avg_1m": round(os.getloadavg()[0], 1),
            "warm_s": round(total, 1), "texts_per_s": round(len(texts) / total, 1)}


def markdown(result: dict) -> str:
    sp, q = result["speed"], result["quality"]
    lines = [
        START, "## Embedding backends: torch fp32, ONNX fp32, ONNX int8 (bench/embed_backends.py)",
        "",
        f"Texts: Banking77 test + Stack Exchange posts, {result['texts']:,} texts (quality: the "
        f"{result['bank']:,} Banking77 test texts, 77 intents). Machine: {result['cpus']} cores "
        f"({result['cpu']}), shared with other jobs: load average {result['load_start']} at the "
        f"start, {result['load_end']} at the end. Run {result['date']}, "
        f"{result['minutes']:.1f} min. torch {result['torch']}, onnxruntime "
        f"{result['onnxruntime']}, batch 64, threads: each backend's default (all cores).",
        "",
        f"Speed: `Embedder.embed` on all {result['texts']:,} texts, model loaded, the three "
        f"backends interleaved in each of {result['repeats']} rounds; texts/s from the median "
        "round, speed-up = median of the per-round ratios to torch. Deviation = 1 - cosine to "
        "torch's vector of the same text. Quality: the pipeline (clean, embed, cluster with the "
        "default ClusterConfig) on Banking77 test with each backend's vectors.",
        "",
        "| backend | texts/s | speed-up vs torch | seconds per round | max deviation | "
        "mean deviation | NMI | ARI | themes | noise |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for b in BACKENDS:
        lines.append(
            f"| {b} | {sp[b]['texts_per_s']} | **{sp[b]['speedup']:.2f}x** | "
            f"{', '.join(f'{s:.1f}' for s in sp[b]['seconds'])} | {sp[b]['max_dev']:.2e} | "
            f"{sp[b]['mean_dev']:.2e} | {q[b]['nmi']:.3f} | {q[b]['ari']:.3f} | "
            f"{int(q[b]['themes'])} | {q[b]['noise']:.1%} |")
    ex, alone = result["export_s"], result["alone_vs_batched"]
    lines += [
        "", "A text embedded alone against the same text in a batch of 64 (min cosine over 300 "
        "texts): " + ", ".join(f"{b} {alone[b]:.7f}" for b in BACKENDS) + ". int8 quantises "
        "each batch's activations with one scale (dynamic quantisation), so its vectors depend "
        "on their batch mates; torch's and onnx fp32's only by float rounding.", "",
        f"One-off: building the exports from the packaged weights took {ex['onnx']} s (fp32: "
        f"load with torch, trace, check) and {ex['onnx-int8']} s (int8: quantise, check), "
        "model load included; later loads read them from `onnx_folder`.", ""]
    if result.get("dask"):
        lines += [
            f"### Dask LocalCluster throughput ({result['texts']:,} texts, chunks of "
            f"{result['chunk']})", "",
            "Workers are processes of 1 thread each on this 2-core machine: 4 workers "
            "oversubscribe it (measured on purpose). Cold = from opening the cluster to the "
            "last chunk back, cluster start and one model load per worker included. Warm = the "
            "same texts again on the same cluster, every worker's model loaded: the rate a "
            "long-running cluster sustains. Single process = the same texts in this process, "
            "model loaded, all cores (torch and onnxruntime use both).", "",
            "| backend | workers | cold (s) | cold texts/s | warm (s) | warm texts/s | "
            "vs single process | load avg |", "|---|---|---|---|---|---|---|---|"]
        single = {r["backend"]: r["texts_per_s"] for r in result["dask"] if not r["workers"]}
        for r in result["dask"]:
            lines.append(
                f"| {r['backend']} | {r['workers'] or 'single process'} | "
                f"{r.get('cold_s', '—')} | {r.get('cold_texts_per_s', '—')} | {r['warm_s']} | "
                f"{r['texts_per_s']} | {r['texts_per_s'] / single[r['backend']]:.2f}x | "
                f"{r['load_avg_1m']} |")
        lines.append("")
    lines += [f"Reproduce: `{result['command']}`", END]
    return "\n".join(lines)


def write_section(path: Path, block: str) -> None:
    text = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n"
    if START in text and END in text:
        text = text[:text.index(START)] + block + text[text.index(END) + len(END):]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    path.write_text(text, encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--dask", default="", help="worker counts, e.g. 2,4 (needs .[dask])")
    parser.add_argument("--dask-backends", default="torch,onnx-int8")
    parser.add_argument("--chunk", type=int, default=256)
    parser.add_argument("--out", type=Path, default=ROOT / "BENCHMARKS.md")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    import onnxruntime
    import torch

    started = time.perf_counter()
    result = {"cpus": os.cpu_count(), "cpu": platform.processor() or platform.machine(),
              "load_start": round(os.getloadavg()[0], 1), "repeats": args.repeats,
              "torch": torch.__version__, "onnxruntime": onnxruntime.__version__,
              "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), "chunk": args.chunk,
              "command": "python bench/embed_backends.py " + " ".join(sys.argv[1:])}
    texts, truth, bank = corpus()
    result.update(texts=len(texts), bank=bank)
    folder = Path(tempfile.mkdtemp(prefix="fp-onnx-"))
    result["export_s"] = build_exports(folder)
    embedders = {b: get_embedder(EmbedConfig(backend=b, onnx_folder=folder)) for b in BACKENDS}
    for e in embedders.values():
        e.embed(["warm up"])
    result["speed"], vectors = speed(embedders, texts, args.repeats)
    print(json.dumps({"speed": result["speed"]}), flush=True)
    result["alone_vs_batched"] = batch_dependence(vectors, texts, folder)
    print(json.dumps({"alone_vs_batched": result["alone_vs_batched"]}), flush=True)
    result["quality"] = quality(embedders, texts[:bank], truth[:bank])
    print(json.dumps({"quality": result["quality"]}), flush=True)
    if args.dask:
        workers = [int(n) for n in args.dask.split(",")]
        backends = args.dask_backends.split(",")
        rows = [single_process(texts, b, folder) for b in backends]
        result["dask"] = rows + dask_throughput(texts, workers, backends, folder, args.chunk)
    result["load_end"] = round(os.getloadavg()[0], 1)
    result["minutes"] = (time.perf_counter() - started) / 60
    if not args.no_write:
        write_section(args.out, markdown(result))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
