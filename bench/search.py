"""How long ``feedback-pipeline search`` takes once the model is loaded, and how it scales.

On a demo warehouse (``make demo`` writes ``warehouse/feedback.duckdb``), after loading the model
and one warm-up query: the median and 90th percentile over ``--repeat`` rounds of ten queries
of (a) embedding the query, (b) the DuckDB part (checks, cosine over every stored item vector
and theme centroid, filters, theme ranks) and (c) the whole ``report.search.search`` call.
Then the DuckDB part alone on copies of the warehouse grown with synthetic rows (demo vectors
plus noise, renormalised, each joined to its original's theme) to ``--scale`` vectors: what a
brute-force scan costs as the warehouse grows (the query embedding does not grow).

    python bench/search.py [--warehouse warehouse/feedback.duckdb] [--repeat 5]
                           [--scale 10000 --scale 100000] [--output BENCHMARKS.md]
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from contextlib import closing
from pathlib import Path

import numpy as np
import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parent))

from quality import write_section  # noqa: E402

from feedback_pipeline.config import EmbedConfig  # noqa: E402
from feedback_pipeline.embed.embedder import get_embedder  # noqa: E402
from feedback_pipeline.report.search import SearchQuery, check_query, nearest, search  # noqa: E402
from feedback_pipeline.warehouse.db import (  # noqa: E402
    arrow_query,
    connect,
    vectors_to_numpy,  # noqa: E402
)

ROOT = Path(__file__).resolve().parents[1]
START, END = "<!-- search:start -->", "<!-- search:end -->"
QUERIES = [
    SearchQuery("offline mode"),
    SearchQuery("my card was refused at the shop"),
    SearchQuery("how do I find out which exchange rate you use", item_type="question"),
    SearchQuery("printer driver on linux", source="stackexchange-askubuntu"),
    SearchQuery("delete my account", limit=20),
    SearchQuery("top up still pending", source="helpdesk", item_type="problem"),
    SearchQuery("spam filter for my mailbox"),
    SearchQuery("the app does not recognise me"),
    SearchQuery("upgrade to the new release", limit=5),
    SearchQuery("cash machine kept my card"),
]


def _ms(samples: list[float]) -> str:
    ordered = sorted(samples)
    p90 = ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))]
    return f"{1000 * statistics.median(samples):.1f} ms (p90 {1000 * p90:.1f})"


def _usable(con, query: SearchQuery) -> SearchQuery:
    """The query, without a source this warehouse does not have (demo sources are named)."""
    sources = {r[0] for r in con.execute("SELECT DISTINCT source FROM items").fetchall()}
    if query.source and query.source not in sources:
        return SearchQuery(query.text, item_type=query.item_type, since=query.since,
                           limit=query.limit)
    return query


def time_demo(path: Path, repeat: int) -> tuple[dict, dict]:
    embedder = get_embedder(EmbedConfig())
    start = time.perf_counter()
    embedder.embed(["warm-up: load the model"])
    load = time.perf_counter() - start
    timings: dict[str, list[float]] = {"embed": [], "duckdb": [], "search": [], "cpu": []}
    with closing(connect(path, read_only=True)) as con:
        queries = [_usable(con, q) for q in QUERIES]
        search(con, embedder, queries[0])  # warm-up: DuckDB's first scan reads the file
        for _ in range(repeat):
            for query in queries:
                t0 = time.perf_counter()
                vector = embedder.embed([query.text])[0]
                t1 = time.perf_counter()
                check_query(con, embedder.model_id, query)
                nearest(con, embedder.model_id, [float(x) for x in vector], query)
                t2, c2 = time.perf_counter(), time.process_time()
                search(con, embedder, query)
                t3, c3 = time.perf_counter(), time.process_time()
                timings["embed"].append(t1 - t0)
                timings["duckdb"].append(t2 - t1)
                timings["search"].append(t3 - t2)
                timings["cpu"].append(c3 - c2)
        size = {"items": con.execute("SELECT count(*) FROM items").fetchone()[0],
                "vectors": con.execute("SELECT count(*) FROM embeddings WHERE model = ?",
                                       [embedder.model_id]).fetchone()[0],
                "themes": con.execute("SELECT count(*) FROM themes WHERE status IN ('active', "
                                      "'faded')").fetchone()[0],
                "load_s": load}
    return size, timings


def grow(source: Path, target: Path, total: int, model: str) -> int:
    """Copy ``source`` to ``target`` and add synthetic items until it holds ``total`` vectors."""
    shutil.copy(source, target)
    with closing(connect(target)) as con:
        base = arrow_query(con, "SELECT i.source, i.external_id, i.item_type, i.created_at, "
                           "e.vector, coalesce(t.theme_id, -1) AS theme_id FROM items i "
                           "JOIN embeddings e ON e.text_hash = i.text_hash AND e.model = $model "
                           "LEFT JOIN item_themes t USING (source, external_id) "
                           "ORDER BY i.source, i.external_id", {"model": model})
        have = con.execute("SELECT count(*) FROM embeddings WHERE model = ?", [model]).fetchone()[0]
        extra = max(0, total - have)
        if extra == 0:
            return have
        rng = np.random.default_rng(18)
        vectors = vectors_to_numpy(base["vector"])
        pick = np.arange(extra) % len(vectors)
        noisy = vectors[pick] + rng.normal(0, 0.05, (extra, vectors.shape[1])).astype(np.float32)
        noisy /= np.linalg.norm(noisy, axis=1, keepdims=True)
        dim = vectors.shape[1]
        flat = pa.array(noisy.astype(np.float32).ravel(), type=pa.float32())
        offsets = pa.array(np.arange(0, extra * dim + 1, dim, dtype=np.int32))
        synthetic = pa.table({  # noqa: F841 - read by DuckDB
            "external_id": [f"syn-{i}" for i in range(extra)],
            "item_type": base["item_type"].take(pa.array(pick)),
            "created_at": base["created_at"].take(pa.array(pick)),
            "theme_id": base["theme_id"].take(pa.array(pick)),
            "vector": pa.ListArray.from_arrays(offsets, flat),
        })
        con.execute("INSERT INTO embeddings (text_hash, model, vector) SELECT 'h-' || "
                    "external_id, ?, vector FROM synthetic", [model])
        con.execute("INSERT INTO items (source, external_id, kind, created_at, updated_at, "
                    "content_hash, clean_text, text_hash, item_type) SELECT 'synthetic', "
                    "external_id, 'community_post', created_at, created_at, 'c-' || external_id, "
                    "'synthetic row ' || external_id, 'h-' || external_id, item_type "
                    "FROM synthetic")
        con.execute("INSERT INTO item_themes (source, external_id, theme_id) SELECT "
                    "'synthetic', external_id, theme_id FROM synthetic")
        con.execute("CHECKPOINT")
    return have + extra


def time_scale(path: Path, sizes: list[int], repeat: int) -> list[tuple[int, list[float]]]:
    """The DuckDB part of each query on warehouses grown to each size (vectors precomputed)."""
    embedder = get_embedder(EmbedConfig())
    vectors = [[float(x) for x in v] for v in embedder.embed([q.text for q in QUERIES])]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for size in sizes:
            target = Path(tmp) / f"wh-{size}.duckdb"
            total = grow(path, target, size, embedder.model_id)
            samples = []
            with closing(connect(target, read_only=True)) as con:
                queries = [_usable(con, q) for q in QUERIES]
                nearest(con, embedder.model_id, vectors[0], queries[0])  # warm-up
                for _ in range(repeat):
                    for query, vector in zip(queries, vectors, strict=True):
                        t0 = time.perf_counter()
                        check_query(con, embedder.model_id, query)
                        nearest(con, embedder.model_id, vector, query)
                        samples.append(time.perf_counter() - t0)
            rows.append((total, samples))
            target.unlink()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warehouse", type=Path, default=ROOT / "warehouse" / "feedback.duckdb")
    parser.add_argument("--repeat", type=int, default=5, help="rounds of the ten queries")
    parser.add_argument("--scale", type=int, action="append",
                        help="vectors to grow the warehouse to (repeatable; default 10k, 100k)")
    parser.add_argument("--output", type=Path, help="write the section into this file")
    args = parser.parse_args()
    if not args.warehouse.exists():
        sys.exit(f"no warehouse at {args.warehouse}: run `make demo` first (or pass --warehouse)")
    load_before = os.getloadavg()[0]
    size, timings = time_demo(args.warehouse, args.repeat)
    scale = time_scale(args.warehouse, [0, *(args.scale or [10_000, 100_000])], args.repeat)
    n = len(timings["search"])
    lines = [
        "## Search: a query against the stored vectors (bench/search.py)",
        "",
        f"`python bench/search.py --repeat {args.repeat}` on {platform.machine()}, "
        f"{time.strftime('%Y-%m-%d', time.gmtime())}, on the demo warehouse "
        f"({size['items']} items, "
        f"{size['vectors']} vectors of 384 floats, {size['themes']} themes). The model is loaded "
        f"once first ({size['load_s']:.1f} s, not counted) and one query warms DuckDB up; then "
        f"{args.repeat} rounds of 10 queries (some with --source/--type/--limit), {n} samples "
        "each, median and 90th percentile. The machine has 2 cores shared with other jobs: "
        f"load average {load_before:.1f} at the start, {os.getloadavg()[0]:.1f} at the end, so "
        "wall times include waiting for a core; the CPU time line does not:",
        "",
        "| part | time per query |",
        "|---|---|",
        f"| embed the query (the model, one sentence) | {_ms(timings['embed'])} |",
        f"| DuckDB: checks, cosine over every item vector and theme centroid, filters, ranks | "
        f"{_ms(timings['duckdb'])} |",
        f"| the whole `search()` call (what the command does after loading the model) | "
        f"{_ms(timings['search'])} |",
        f"| the same, CPU time of this process (all its threads) | {_ms(timings['cpu'])} |",
        "",
        "The DuckDB part alone as the warehouse grows (synthetic items: demo vectors plus noise, "
        "each in its original's theme; same 10 queries, vectors computed beforehand):",
        "",
        "| vectors | DuckDB part per query | per 1,000 vectors |",
        "|---|---|---|",
    ]
    for total, samples in scale:
        lines.append(f"| {total:,} | {_ms(samples)} | "
                     f"{1000 * statistics.median(samples) / total * 1000:.2f} ms |")
    body = "\n".join(lines)
    print(body)
    if args.output:
        write_section(args.output, body, START, END)


if __name__ == "__main__":
    main()
