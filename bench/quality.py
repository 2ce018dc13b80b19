"""Clustering quality and embedding speed, side by side in one run (issue #3).

Quality: the texts are embedded once with the pipeline's embedder; on those embeddings our
pipeline (the flow's clean -> embed -> cluster path: an in-memory warehouse, ``cluster_corpus``
and the curation a full night applies before storing themes (``identity.curate``: near-duplicate
themes merged), with the defaults, with the near-duplicate merge on, without the reduced-space
join of over-split clusters, and with the configuration before issue
#16; dropped items counted as noise) is compared with
(a) UMAP(5, cosine) + HDBSCAN(min_cluster_size=10), BERTopic's default; (b) KMeans given the true
number of labels, an oracle; (c) HDBSCAN(min_cluster_size=10) on the raw vectors. The same
comparison then runs on labelled sets nothing was tuned on (bench/generalise.py).

Speed: raw ``SentenceTransformer.encode`` on the same texts against the pipeline's ingest, clean
and embed stages on a cold, in-memory warehouse, for a few batch sizes, and with the model's
Linear layers quantised to int8 (``torch.ao.quantization.quantize_dynamic``), whose quality is
reported with it.

Usage:
    python bench/quality.py                       # Banking77 test split -> BENCHMARKS.md
    python bench/quality.py --data my.csv --text-column body --label-column intent --split ""

Only the block between ``<!-- quality:start -->`` and ``<!-- quality:end -->`` of the output file
is replaced; the rest of BENCHMARKS.md belongs to other benchmarks.
"""

from __future__ import annotations

import argparse
import copy
import csv
import os
import platform
import re
import sys
import time
import warnings
from datetime import UTC, datetime
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402
from generalise import (  # noqa: E402
    OTHER_SETS,
    ROW_AFTER,
    ROW_BEFORE,
    ROW_MERGED,
    ROW_UNJOINED,
    before_after,
    other_sets_section,
)

from feedback_pipeline.clean.languages import detect_language  # noqa: E402
from feedback_pipeline.clean.stage import clean_pending  # noqa: E402
from feedback_pipeline.cluster.corpus import cluster_corpus  # noqa: E402
from feedback_pipeline.cluster.identity import curate  # noqa: E402
from feedback_pipeline.cluster.model import NOISE, min_cluster_size_for  # noqa: E402
from feedback_pipeline.cluster.store import load_themes  # noqa: E402
from feedback_pipeline.config import load_settings  # noqa: E402
from feedback_pipeline.embed.embedder import Embedder, SentenceTransformerEmbedder  # noqa: E402
from feedback_pipeline.embed.item_types import classify_pending  # noqa: E402
from feedback_pipeline.embed.stage import embed_pending  # noqa: E402
from feedback_pipeline.ingest.source import Batch  # noqa: E402
from feedback_pipeline.ingest.stage import save_batch  # noqa: E402
from feedback_pipeline.pipeline import embedder_for  # noqa: E402
from feedback_pipeline.records import Item  # noqa: E402
from feedback_pipeline.warehouse.db import connect  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "banking77.csv"
START, END = "<!-- quality:start -->", "<!-- quality:end -->"
HEADER = ("# Benchmarks\n\nMeasured on this project's machines; every section says how to "
          "reproduce it.\n")


def load_texts(path: Path, text_column: str, label_column: str, split: str) -> tuple[list, list]:
    with path.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    if split:
        rows = [r for r in rows if r.get("split") == split]
    if not rows:
        sys.exit(f"{path}: no rows (split {split!r})")
    return [r[text_column] for r in rows], [r[label_column] for r in rows]


def scores(truth: list[str], labels: np.ndarray, seconds: float) -> dict:
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    truth_arr = np.array(truth)
    kept = labels != NOISE
    return {
        "nmi": normalized_mutual_info_score(truth_arr, labels),
        "ari": adjusted_rand_score(truth_arr, labels),
        "noise": float((~kept).mean()),
        "themes": len(set(labels[kept].tolist())),
        "nmi_kept": normalized_mutual_info_score(truth_arr[kept], labels[kept]) if kept.any()
        else 0.0,
        "seconds": seconds,
    }


class QuantisedEmbedder(SentenceTransformerEmbedder):
    """The pipeline's embedder with its Linear layers quantised to int8 (dynamic)."""

    def __init__(self, base: SentenceTransformerEmbedder) -> None:
        super().__init__(base.config)
        import torch

        self.model_id = f"{base.model_id}+int8"
        self._model = torch.ao.quantization.quantize_dynamic(
            copy.deepcopy(base.model), {torch.nn.Linear}, dtype=torch.qint8)


def run_pipeline(texts: list[str], embedder: Embedder, settings, cluster: bool) -> dict:
    """Ingest, clean, embed (and optionally cluster) on a cold in-memory warehouse."""
    now = datetime.now(UTC)
    items = [Item(source="bench", kind="community_post", external_id=str(i), created_at=now,
                  updated_at=now, body=t) for i, t in enumerate(texts)]
    con = connect(":memory:")
    out: dict = {}
    t0 = time.perf_counter()
    save_batch(con, "bench", Batch(items=items), run_id="bench", salt="bench",
               bots=settings.clean.bots())
    t1 = time.perf_counter()
    clean_stats = clean_pending(con, settings.clean)
    t2 = time.perf_counter()
    embed_stats = embed_pending(con, embedder)
    t3 = time.perf_counter()
    classify_pending(con, embedder)
    t4 = time.perf_counter()
    out.update(ingest=t1 - t0, clean=t2 - t1, embed=t3 - t2, types=t4 - t3,
               kept=clean_stats["kept"], embedded=embed_stats["embedded"],
               dropped=clean_stats["dropped"])
    if cluster:
        t5 = time.perf_counter()
        c = cluster_corpus(con, embedder.model_id, settings.cluster)
        # The themes a night delivers: a full re-cluster is curated (near-duplicates merged,
        # curate.py) before it is stored, so that is what is scored.
        out["curated"] = curate(c, load_themes(con), settings.themes,
                                min_size=min_cluster_size_for(len(c.X), settings.cluster),
                                member_floor=settings.cluster.member_min_similarity)
        by_id = {ext: int(c.labels[r]) for (_, ext), r in
                 zip(c.keys, c.item_rows.tolist(), strict=True)}
        out["labels"] = np.array([by_id.get(str(i), NOISE) for i in range(len(texts))])
        out["cluster"] = time.perf_counter() - t5
        out["languages"] = c.language_stats.get("languages", {})
    con.close()
    return out


def raw_encode(embedder: SentenceTransformerEmbedder, texts: list[str], batch_size: int) -> tuple:
    t0 = time.perf_counter()
    X = embedder.model.encode(texts, batch_size=batch_size, normalize_embeddings=True,
                              convert_to_numpy=True, show_progress_bar=False)
    return np.asarray(X, dtype=np.float32), time.perf_counter() - t0


def baselines(X: np.ndarray, truth: list[str], seed: int = 42) -> dict[str, dict]:
    import hdbscan
    import umap
    from sklearn.cluster import KMeans

    out = {}
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        Z = umap.UMAP(n_components=5, n_neighbors=15, min_dist=0.0, metric="cosine",
                      random_state=seed).fit_transform(X)
    labels = hdbscan.HDBSCAN(min_cluster_size=10).fit(Z).labels_
    out["(a) UMAP(5, cosine) + HDBSCAN(10), BERTopic default"] = scores(
        truth, labels, time.perf_counter() - t0)
    t0 = time.perf_counter()
    k = len(set(truth))
    labels = KMeans(n_clusters=k, n_init=10, random_state=0).fit(X).labels_
    out[f"(b) KMeans, true k = {k} (oracle)"] = scores(truth, labels, time.perf_counter() - t0)
    t0 = time.perf_counter()
    labels = hdbscan.HDBSCAN(min_cluster_size=10).fit(X).labels_
    out["(c) HDBSCAN(10) on raw vectors"] = scores(truth, labels, time.perf_counter() - t0)
    return out


def warm_up_numba() -> None:
    """UMAP's first call compiles for ~15 s; keep that out of every timed method."""
    import umap

    rng = np.random.default_rng(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        umap.UMAP(n_components=5, metric="cosine").fit_transform(rng.standard_normal((300, 16)))


def quality_table(results: dict[str, dict]) -> list[str]:
    lines = ["| method | NMI | ARI | noise | themes | NMI (non-noise) | time (s) |",
             "|---|---|---|---|---|---|---|"]
    for name, r in results.items():
        lines.append(f"| {name} | {r['nmi']:.3f} | {r['ari']:.3f} | {r['noise']:.1%} | "
                     f"{r['themes']} | {r['nmi_kept']:.3f} | {r['seconds']:.1f} |")
    return lines


def write_section(path: Path, body: str, start: str = START, end: str = END) -> None:
    """Replace the block between ``start`` and ``end`` (appended if missing)."""
    text = path.read_text(encoding="utf-8") if path.exists() else HEADER
    block = f"{start}\n{body.rstrip()}\n{end}"
    if start in text and end in text:
        text = re.sub(re.escape(start) + r".*?" + re.escape(end), lambda _: block, text, flags=re.S)
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    path.write_text(text, encoding="utf-8")


def earlier_speed(path: Path) -> list[str]:
    """The speed subsection of the last run that measured it: a quality-only run keeps it."""
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    found = re.search(r"\n### Speed: .*?(?=\n" + re.escape(END) + ")", text, flags=re.S)
    if not found:
        return []
    body = found.group(0).strip().split("\n")
    note = "(Not re-measured by the quality-only run above; from the last run with speed.)"
    return ["", body[0], "", note] + (body[1:] if note not in body else body[3:])


def data_parser(description: str, split: str) -> argparse.ArgumentParser:
    """The labelled-data options every quality bench shares (any CSV with text and label)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--text-column", default="text")
    parser.add_argument("--label-column", default="label")
    parser.add_argument("--split", default=split, help="value of the 'split' column; '' for all")
    return parser


def main(argv: list[str] | None = None) -> None:
    parser = data_parser(__doc__.split("\n\n")[0], "test")
    parser.add_argument("--config", type=Path, default=None)
    parser.add_argument("--repeat", type=int, default=3,
                        help="raw-encode / pipeline pairs timed back to back (medians reported)")
    parser.add_argument("--batch-sizes", default="",
                        help="extra batch sizes to time once each, e.g. 32,128")
    parser.add_argument("--no-speed", action="store_true", help="quality only")
    parser.add_argument("--cached", action="store_true",
                        help="quality only, vectors from bench/out's cache (implies --no-speed)")
    parser.add_argument("--other-sets", default=",".join(OTHER_SETS),
                        help="labelled sets built from ../shared/data checked with the same "
                        "defaults (bench/generalise.py); '' for none")
    parser.add_argument("--output", type=Path, default=ROOT / "BENCHMARKS.md")
    args = parser.parse_args(argv)
    args.no_speed = args.no_speed or args.cached
    started = time.perf_counter()

    texts, truth = load_texts(args.data, args.text_column, args.label_column, args.split)
    settings = load_settings(args.config)
    embedder = embedder_for(settings)
    embedder.embed(["warm up the model"] * 8)
    detect_language("load the language model once, like the embedding model")
    warm_up_numba()
    load_before = os.getloadavg()[0]
    print(f"{len(texts)} texts, {len(set(truth))} labels; model {embedder.model_id}", flush=True)

    base_batch = settings.embed.batch_size
    if args.cached:
        # Quality only, from the vectors cache (bench/vectors.py): the same vectors, no encoding.
        from vectors import CachedEmbedder

        embedder = CachedEmbedder(embedder)
        X, raw_seconds = embedder.embed([t for t in texts]), 0.0
    else:
        X, raw_seconds = raw_encode(embedder, texts, base_batch)
    print(f"raw encode (batch {base_batch}): {raw_seconds:.1f} s", flush=True)
    # Before and after issue #16 on the same texts; quality-only runs time the two clusterings
    # back to back --repeat times (medians), speed runs once (the speed pairs repeat below).
    ba = before_after(texts, truth, embedder, settings, repeat=args.repeat if args.cached else 1)
    ours = ba["after"]["run"]
    results = {ROW_BEFORE: ba["before"], ROW_MERGED: ba["merged"], ROW_UNJOINED: ba["unjoined"],
               ROW_AFTER: ba["after"]}
    results.update(baselines(X, truth))
    for name, r in results.items():
        print(f"{name}: NMI {r['nmi']:.3f} ARI {r['ari']:.3f} noise {r['noise']:.1%}", flush=True)

    speed: list[dict] = []
    if not args.no_speed:
        # Back-to-back pairs on a cold warehouse each time; the quality run above is pair 1.
        pairs = [(raw_seconds, ours)]
        for _ in range(args.repeat - 1):
            _, raw_s = raw_encode(embedder, texts, base_batch)
            pairs.append((raw_s, run_pipeline(texts, embedder, settings, cluster=False)))
            print(f"pair {len(pairs)}: raw {raw_s:.1f} s, pipeline embed "
                  f"{pairs[-1][1]['embed']:.1f} s", flush=True)
        ratios = [(r["clean"] + r["embed"]) / raw for raw, r in pairs]
        median = {k: float(np.median([r[k] for _, r in pairs]))
                  for k in ("ingest", "clean", "embed", "types")}
        raw_seconds = float(np.median([raw for raw, _ in pairs]))
        # The headline is the median of the per-pair ratios: each pair ran back to back, so
        # its ratio is fair even when the machine's load changed between pairs.
        stage_ratio = float(np.median(ratios))
        speed.append({"variant": f"fp32, batch {base_batch} (default), median of {len(pairs)} "
                      f"pairs (ratios {', '.join(f'{x:.2f}' for x in ratios)})",
                      "raw": raw_seconds, "ratio": stage_ratio, **median})
        for bs in [int(b) for b in args.batch_sizes.split(",") if b and int(b) != base_batch]:
            emb = SentenceTransformerEmbedder(settings.embed.model_copy(update={"batch_size": bs}))
            emb.embed(["warm up the model"] * 8)  # load outside the timed part
            _, raw_s = raw_encode(emb, texts, bs)
            speed.append({"variant": f"fp32, batch {bs} (one pair)", "raw": raw_s,
                          **run_pipeline(texts, emb, settings, cluster=False)})
            print(f"batch {bs}: raw {raw_s:.1f} s, pipeline embed {speed[-1]['embed']:.1f} s",
                  flush=True)
        q_emb = QuantisedEmbedder(embedder)
        q_emb.embed(["warm up the model"] * 8)
        _, raw_s = raw_encode(q_emb, texts, base_batch)
        q_run = run_pipeline(texts, q_emb, settings, cluster=True)
        speed.append({"variant": f"int8 dynamic quantisation, batch {base_batch} (one pair)",
                      "raw": raw_s, **q_run})
        results[f"ours on int8-quantised embeddings ({q_emb.model_id})"] = scores(
            truth, q_run["labels"], q_run["cluster"])
        print(f"int8: raw {raw_s:.1f} s, embed {q_run['embed']:.1f} s", flush=True)

    total = time.perf_counter() - started
    cmd = "python bench/quality.py" + ("" if argv is None and len(sys.argv) == 1
                                       else " " + " ".join(sys.argv[1:] if argv is None else argv))
    cpu = next((line.split(":", 1)[1].strip() for line in
                Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("model name")),
               platform.processor() or "unknown")
    import torch

    slower = np.median(ba["after"]["all_seconds"]) / np.median(ba["before"]["all_seconds"])
    lines = [
        "## Clustering quality and embedding speed (bench/quality.py)",
        "",
        f"Data: `{args.data.name}`" + (f", split `{args.split}`" if args.split else "")
        + f": {len(texts):,} texts, {len(set(truth))} labels. Model: `{embedder.model_id}`. "
        f"Machine: {os.cpu_count()} cores ({cpu}), torch {torch.__version__} with "
        f"{torch.get_num_threads()} threads, Python {platform.python_version()}; load average "
        f"{load_before:.1f} at the start, {os.getloadavg()[0]:.1f} at the end (other jobs on the "
        "machine slow every timing alike; ratios are measured back to back). "
        f"Run {datetime.now(UTC):%Y-%m-%d}, whole script {total / 60:.1f} min.",
        "",
        f"Reproduce: `{cmd}` (or `make bench`).",
        "",
        "### Quality, side by side on the same embeddings",
        "",
        "The texts are embedded once; (a)–(c) run on those vectors, ours on the vectors its own "
        "embed stage cached for the cleaned texts (identical wherever cleaning left a text "
        f"unchanged). Items the cleaner dropped ({sum(ours['dropped'].values())}: "
        f"{ours['dropped'] or 'none'}) count as noise for ours. NMI and ARI count noise as one "
        "more cluster; 'NMI (non-noise)' scores only the items a method placed in a theme. "
        "Time is clustering only (UMAP's one-off JIT compile excluded for all).",
        "",
        *quality_table(results),
        "",
        f"Language groups found by the clean stage: {ours['languages'] or 'n/a'}.",
        "",
        "Clustering time of ours (cold in-memory warehouse, UMAP included, JIT excluded), "
        f"before / after, {len(ba['after']['all_seconds'])} back-to-back runs each: "
        + " / ".join(f"median {np.median(ba[k]['all_seconds']):.1f} s "
                     f"({', '.join(f'{x:.1f}' for x in ba[k]['all_seconds'])})"
                     for k in ("before", "after"))
        + f"; ratio {slower:.2f}x.",
    ]
    other = [name for name in args.other_sets.split(",") if name]
    if other:
        lines += ["", "### The same defaults on labelled sets they were not chosen on "
                  "(bench/generalise.py)", "",
                  "Nothing was tuned on these; each is built from `../shared/data` as "
                  "bench/generalise.py describes. Same columns as above.", "",
                  *other_sets_section(other, embedder, settings)]
    if speed:
        lines += [
            "",
            "### Speed: the pipeline against raw `encode` on the same texts",
            "",
            "Raw = `SentenceTransformer.encode(texts)` in input order. Pipeline = a cold "
            "in-memory warehouse: ingest, clean (incl. language detection) and embed "
            "(dedup by text hash, shortest-first batches, vectors written to DuckDB); item "
            "typing runs after embedding, from the cached vectors. Model loading is excluded "
            "from both.",
            "",
            "| variant | raw encode (s) | texts/s | ingest (s) | clean (s) | embed (s) | "
            "types (s) | clean+embed / raw |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for s in speed:
            lines.append(
                f"| {s['variant']} | {s['raw']:.1f} | {len(texts) / s['raw']:.0f} | "
                f"{s['ingest']:.2f} | {s['clean']:.2f} | {s['embed']:.1f} | {s['types']:.2f} | "
                f"**{s.get('ratio', (s['clean'] + s['embed']) / s['raw']):.2f}x** |")
        lines += ["", f"Target: clean+embed ≤ 1.3x raw encode; default (median of the pairs' "
                      f"ratios): {stage_ratio:.2f}x. The seconds in that row are medians of each "
                      "column on their own. int8 is not the default: it changes every vector "
                      "(switching means re-embedding the warehouse), costs some quality (table "
                      "above), and its timing is a single pair on a shared machine."]
    if not speed:
        lines += earlier_speed(args.output)
    write_section(args.output, "\n".join(lines))
    print(f"wrote {args.output} in {total / 60:.1f} min")


if __name__ == "__main__":
    main()
