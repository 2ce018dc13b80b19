"""How the clustering defaults were chosen: a sweep on Banking77's *train* split (issue #3).

The test split is what ``bench/quality.py`` reports; choosing settings on it would flatter them.
This sweep runs on the train split instead: three random samples the size of the test split
(3,080 texts, so ``min_cluster_fraction`` sees the same n) and the whole split (10,003 texts,
to check the choice holds at three times the size). Every row is the library's own
``ThemeClusterer`` (second pass and duplicate grouping included) with one setting changed;
UMAP runs once per sample and reduction setting (``fit(..., reduced=...)``).

Stage 1 sweeps HDBSCAN and the noise second pass on the default reduction; stage 2 sweeps the
reduction with the default HDBSCAN settings; stage 3 (issue #16) compares the ways of joining
HDBSCAN's over-split leaves and of treating what stays noise, on each sample reduced with
several UMAP seeds (the spread between seeds is as large as most differences), and picks the
setting with the best mean NMI over samples x seeds: that selection is what ``ClusterConfig``
ships. ``--stages 3`` runs it alone (~5 min on an idle 2-core machine). Stage 4 (issue #16,
fourth wave) measures what is left after HDBSCAN against two ceilings: refinements in the raw
384-d space (spherical k-means from the clusters' centroids, self-training, neighbour
smoothing), joins of over-split clusters (raw centroid cosine, distance in the reduced space),
a better-conditioned space for UMAP (all-but-the-top), and the join that knows the labels.
Stage 5 (issue #16, fifth wave, bench/representation.py) changes what the clustering sees
(lexical features, neighbour-augmented or IDF-pooled vectors, an LDA learnt from our own
clusters, a consensus of seeds, local re-clustering, the model fine-tuned without labels) and
scores classifiers that know the labels on the test split: the ceilings of the vectors.

Usage:
    python bench/tune_cluster.py            # -> the tuning section of BENCHMARKS.md
    python bench/tune_cluster.py --stages 3 # only stage 3 -> its own section
    python bench/tune_cluster.py --stages 4 # only stage 4 -> its own section
    python bench/tune_cluster.py --stages 5 # only stage 5 -> its own section (~30 min)
    python bench/tune_cluster.py --data my.csv --text-column body --label-column intent --split ""
"""

from __future__ import annotations

import os
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402
from after_hdbscan import STAGE4_SECTION, stage4  # noqa: E402
from generalise import PREVIOUS  # noqa: E402
from quality import ROOT, data_parser, load_texts, scores, warm_up_numba, write_section  # noqa: E402
from representation import STAGE5_SECTION, ceilings, section, stage5  # noqa: E402
from vectors import CachedEmbedder  # noqa: E402

from feedback_pipeline.cluster.model import ThemeClusterer  # noqa: E402
from feedback_pipeline.config import ClusterConfig, load_settings  # noqa: E402
from feedback_pipeline.pipeline import embedder_for  # noqa: E402

START, END = "<!-- tuning:start -->", "<!-- tuning:end -->"
START3, END3 = "<!-- tuning-leaves:start -->", "<!-- tuning-leaves:end -->"
# Stage 3: everything but the change named is ClusterConfig's default; ``PREVIOUS`` is the
# configuration before issue #16, the base every other row changes one thing of.
LEAF_GRID = {
    "previous default (eom, no epsilon, leftovers stay noise)": {},
    "eom, epsilon 0.1": {"cluster_selection_epsilon": 0.1},
    "eom, epsilon 0.15": {"cluster_selection_epsilon": 0.15},
    "eom, epsilon 0.2": {"cluster_selection_epsilon": 0.2},
    "leaf, epsilon 0.15": {"cluster_selection_method": "leaf", "cluster_selection_epsilon": 0.15},
    "merge by neighbour share 0.1": {"merge_neighbour_share": 0.1},
    "min size from density: fraction 0.005, min_samples 5": {"min_cluster_fraction": 0.005,
                                                             "min_samples": 5},
    "leftovers re-clustered": {"recluster_leftovers": True},
    "eom, epsilon 0.1 + leftovers re-clustered": {"cluster_selection_epsilon": 0.1,
                                                  "recluster_leftovers": True},
    "eom, epsilon 0.15 + leftovers re-clustered": {"cluster_selection_epsilon": 0.15,
                                                   "recluster_leftovers": True},
}
CONSENSUS = "consensus of 3 UMAP seeds (HDBSCAN on the 3 reductions side by side)"
NO_SECOND_PASS = {"reassign_neighbours": 0, "reassign_min_similarity": 2.0}
SECOND_PASS = {
    "none (HDBSCAN noise stays noise)": NO_SECOND_PASS,
    "nearest centroid >= 0.5": {"reassign_neighbours": 0},
    "neighbour vote (k=10), centroid >= 0.5": {},
}
HDBSCAN_GRID = [{"min_cluster_fraction": f, "min_samples": m}
                for f in (0.002, 0.003, 0.005) for m in (None, 10)]
REDUCTION_GRID = [{"umap_neighbors": nn, "n_components": nc}
                  for nn in (10, 15, 30) for nc in (5, 10)]


def samples(X: np.ndarray, truth: np.ndarray, size: int, count: int) -> list[tuple]:
    out = []
    for seed in range(count):
        idx = np.random.default_rng(seed).choice(len(X), min(size, len(X)), replace=False)
        out.append((f"sample {seed}", X[idx], truth[idx]))
    return out + [(f"all {len(X):,}", X, truth)]


def describe(change: dict) -> str:
    default = ClusterConfig()
    return ", ".join(f"{k}={v}" for k, v in change.items()
                     if getattr(default, k) != v) or "default"


def sweep(sets: list[tuple], grid: list[tuple[str, dict]], reduce_with: dict) -> list[dict]:
    rows = []
    for set_name, X, truth in sets:
        Z = ThemeClusterer(ClusterConfig(**reduce_with)).reduce(X)
        for label, change in grid:
            t0 = time.perf_counter()
            model = ThemeClusterer(ClusterConfig(**reduce_with, **change)).fit(X, reduced=Z)
            rows.append({"set": set_name, "setting": label,
                         **scores(list(truth), model.labels_, time.perf_counter() - t0)})
        print(f"  {set_name}: {len(grid)} settings", flush=True)
    return rows


def table(rows: list[dict], sets: list[tuple]) -> list[str]:
    sample_sets = [s for s, *_ in sets[:-1]]
    whole = sets[-1][0]
    lines = [f"| setting | NMI (mean of {len(sample_sets)} samples) | ARI | noise | themes | "
             f"NMI ({whole}) | ARI ({whole}) |", "|---|---|---|---|---|---|---|"]
    settings = list(dict.fromkeys(r["setting"] for r in rows))
    best = max(settings, key=lambda s: np.mean([r["nmi"] for r in rows
                                                if r["setting"] == s and r["set"] in sample_sets]))
    for s in settings:
        part = [r for r in rows if r["setting"] == s and r["set"] in sample_sets]
        full = next(r for r in rows if r["setting"] == s and r["set"] == whole)
        name = f"**{s}**" if s == best else s
        lines.append(
            f"| {name} | {np.mean([r['nmi'] for r in part]):.4f} | "
            f"{np.mean([r['ari'] for r in part]):.3f} | "
            f"{np.mean([r['noise'] for r in part]):.1%} | "
            f"{np.mean([r['themes'] for r in part]):.0f} | {full['nmi']:.4f} | {full['ari']:.3f} |")
    return lines


def leaf_sweep(sets: list[tuple], seeds: list[int]) -> tuple[list[dict], dict[str, float]]:
    """Stage 3: every LEAF_GRID row on every sample x UMAP seed, plus the seed consensus."""
    rows, umap_seconds = [], []
    for set_name, X, truth in sets:
        reduced = []
        for seed in seeds:
            t0 = time.perf_counter()
            reduced.append(ThemeClusterer(ClusterConfig(random_state=seed)).reduce(X))
            umap_seconds.append(time.perf_counter() - t0)
            for label, change in LEAF_GRID.items():
                t0 = time.perf_counter()
                model = ThemeClusterer(ClusterConfig(**{**PREVIOUS, **change})).fit(
                    X, reduced=reduced[-1])
                rows.append({"set": set_name, "seed": seed, "setting": label,
                             **scores(list(truth), model.labels_, time.perf_counter() - t0)})
        t0 = time.perf_counter()
        model = ThemeClusterer(ClusterConfig(**PREVIOUS)).fit(X, reduced=np.hstack(reduced))
        rows.append({"set": set_name, "seed": "all", "setting": CONSENSUS,
                     **scores(list(truth), model.labels_, time.perf_counter() - t0)})
        print(f"  {set_name}: {len(LEAF_GRID)} settings x {len(seeds)} seeds", flush=True)
    return rows, {"umap": float(np.median(umap_seconds))}


def leaf_table(rows: list[dict], labels: int, umap_seconds: float, seeds: int) -> list[str]:
    settings = list(dict.fromkeys(r["setting"] for r in rows))
    mean = {s: {k: float(np.mean([r[k] for r in rows if r["setting"] == s]))
                for k in ("nmi", "ari", "noise", "themes", "seconds")} for s in settings}
    chosen = max(LEAF_GRID, key=lambda s: (round(mean[s]["nmi"], 4), mean[s]["ari"]))
    lines = [f"| setting | NMI | ARI | noise | themes (true: {labels}) | min NMI | max NMI | "
             "clustering time (s) |", "|---|---|---|---|---|---|---|---|"]
    for s in settings:
        nmis = [r["nmi"] for r in rows if r["setting"] == s]
        m = mean[s]
        # The consensus pays for one UMAP per seed; the others reuse one reduction.
        extra = umap_seconds * (seeds - 1) if s == CONSENSUS else 0.0
        name = f"**{s}** (selected)" if s == chosen else s
        lines.append(f"| {name} | {m['nmi']:.4f} | {m['ari']:.3f} | {m['noise']:.1%} | "
                     f"{m['themes']:.0f} | {min(nmis):.3f} | {max(nmis):.3f} | "
                     f"{m['seconds'] + extra:.1f} |")
    default = ClusterConfig()
    shipped = {k: getattr(default, k) for k in PREVIOUS}
    return lines + ["", f"Selected (best mean NMI, then ARI): **{chosen}** = "
                    f"`{ {**PREVIOUS, **LEAF_GRID[chosen]} }`. `ClusterConfig` ships `{shipped}`: "
                    "a selection is shipped only if the checks on the other sets (bench/"
                    "quality.py, bench/delivered.py) are not worse; BENCHMARKS.md's issue #16 "
                    "section says what they showed."]


def main(argv: list[str] | None = None) -> None:
    parser = data_parser(__doc__.split("\n\n")[0], "train")
    parser.add_argument("--sample-size", type=int, default=3080)
    parser.add_argument("--samples", type=int, default=3)
    parser.add_argument("--seeds", default="42,1,2", help="UMAP seeds of stage 3")
    parser.add_argument("--stages", default="1,2,3")
    parser.add_argument("--output", type=Path, default=ROOT / "BENCHMARKS.md")
    args = parser.parse_args(argv)
    stages = {int(x) for x in args.stages.split(",")}
    started = time.perf_counter()

    texts, truth = load_texts(args.data, args.text_column, args.label_column, args.split)
    embedder = CachedEmbedder(embedder_for(load_settings(None)))  # encodes only unseen texts
    warm_up_numba()
    print(f"embedding {len(texts):,} texts ...", flush=True)
    X = embedder.embed(texts)
    sets = samples(X, np.array(truth), args.sample_size, args.samples)
    if 5 in stages:
        seeds = [int(x) for x in args.seeds.split(",")]
        print(f"stage 5: the space, UMAP seeds {seeds}", flush=True)
        rows, purity = stage5(X, np.array(truth), texts, embedder.base.model, args.sample_size,
                              args.samples, seeds)
        test_texts, test_truth = load_texts(args.data, args.text_column, args.label_column,
                                            "test")
        ceiling = ceilings(embedder.model_id, (X, np.array(truth)),
                           (embedder.embed(test_texts), np.array(test_truth)))
        write_section(args.output, section(rows, purity, ceiling, args, seeds, started),
                      *STAGE5_SECTION)
        if stages == {5}:
            print(f"wrote {args.output}")
            return
    if 4 in stages:
        seeds = [int(x) for x in args.seeds.split(",")]
        print(f"stage 4: after HDBSCAN, UMAP seeds {seeds}", flush=True)
        write_section(args.output, stage4(sets[:-1], seeds, args, started), *STAGE4_SECTION)
        if stages == {4}:
            print(f"wrote {args.output}")
            return
    if 3 in stages:
        seeds = [int(x) for x in args.seeds.split(",")]
        print(f"stage 3: leaves and leftovers, UMAP seeds {seeds}", flush=True)
        rows, timing = leaf_sweep(sets[:-1], seeds)
        lines = [
            "## Joining over-split leaves, treating leftovers (bench/tune_cluster.py, stage 3)",
            "",
            f"Banking77 *train* only: {args.samples} random samples of {args.sample_size:,} "
            f"texts, each reduced with UMAP seeds {seeds}; every figure is the mean over the "
            f"{args.samples * len(seeds)} sample x seed runs (min / max NMI beside it). Each row "
            "changes one thing of the configuration before issue #16 (all else "
            "`ClusterConfig`'s defaults, member floor included). Clustering time excludes UMAP "
            f"(median {timing['umap']:.1f} s per reduction of {args.sample_size:,} texts, on "
            f"the shared machine: load average {os.getloadavg()[0]:.1f} at the end), except for "
            "the consensus, which needs one reduction per seed. "
            f"Run {time.strftime('%Y-%m-%d')}, {(time.perf_counter() - started) / 60:.1f} min.",
            "",
            "Reproduce: `python bench/tune_cluster.py --stages 3`",
            "",
            *leaf_table(rows, len(set(truth)), timing["umap"], len(seeds)),
        ]
        write_section(args.output, "\n".join(lines), START3, END3)
        if stages == {3}:
            print(f"wrote {args.output}")
            return

    print("stage 1: HDBSCAN x second pass, default reduction", flush=True)
    grid = [(f"{describe(h)}; second pass: {p}", {**h, **change})
            for h in HDBSCAN_GRID for p, change in SECOND_PASS.items()]
    stage1 = sweep(sets, grid, {})
    print("stage 2: reduction, default HDBSCAN and second pass", flush=True)
    stage2 = [r for red in REDUCTION_GRID
              for r in sweep(sets, [(describe(red), {})], red)]

    total = time.perf_counter() - started
    lines = [
        "## How the clustering defaults were chosen (bench/tune_cluster.py)",
        "",
        f"Sweep on `{args.data.name}`" + (f", split `{args.split}`" if args.split else "")
        + f" ({len(texts):,} texts, {len(set(truth))} labels): {args.samples} random samples of "
        f"{args.sample_size:,} texts (the test split's size) and the whole split. The test split "
        "is never looked at here. Each row is `ThemeClusterer` with the settings named (all "
        "others default; duplicate grouping always on); the best mean NMI over the samples is "
        f"in bold. Whole script {total / 60:.1f} min.",
        "",
        "Reproduce: `python bench/tune_cluster.py`",
        "",
        "### Stage 1: HDBSCAN settings and the second pass for noise (UMAP 15 neighbours, 5-d)",
        "",
        *table(stage1, sets),
        "",
        "### Stage 2: the reduction (default HDBSCAN settings and second pass)",
        "",
        *table(stage2, sets),
        "",
        "Defaults (`ClusterConfig`): UMAP 15 neighbours to 5 dimensions, `min_cluster_fraction` "
        "0.003, `min_samples` unset (= min_cluster_size), second pass by neighbour vote with a "
        "0.5 centroid floor. Where two settings are within a few thousandths of NMI (the spread "
        "between UMAP seeds is about ±0.003), the default keeps the simpler one and the one that "
        "does better on the whole split.",
    ]
    write_section(args.output, "\n".join(lines), START, END)
    print(f"wrote {args.output} in {total / 60:.1f} min")


if __name__ == "__main__":
    main()
