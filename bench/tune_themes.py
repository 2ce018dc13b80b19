"""How the member floor and the merge of split clusters were chosen (issue #16).

On Banking77's *train* split only (three random samples the size of the test split), with the
library's ``ThemeClusterer``:

1. how close members are to their theme's centroid, for members of the theme's majority intent
   and for the others (the floor must cut the far tail without eating real members);
2. for every pair of clusters with centroid cosine >= 0.6: does the pair share its majority
   intent (one request split in two), and how well do centroid similarity and the share of
   shared nearest neighbours (``model.neighbour_share``) tell (ROC AUC);
3. NMI / ARI / noise / themes for floors x merge thresholds;
4. the curation before delivery (cluster/curate.py) on the default clustering: splitting by
   the halves' neighbour share x merging by neighbour share and centroid cosine, scored as a PM
   sees it (the 20 largest themes: how many coherent, how many pairs share an intent) and over
   every theme, with NMI / ARI; and how well the halves' neighbour share of a theme predicts
   that it is coherent (ROC AUC).

    python bench/tune_themes.py [--samples 3] [--part floor|curation] [--output BENCHMARKS.md]

Embeddings come from bench/vectors.py's cache (encoded once).
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from quality import write_section  # noqa: E402
from vectors import cached_pipeline_embedder  # noqa: E402

from feedback_pipeline.cluster.model import (  # noqa: E402
    NOISE,
    ThemeClusterer,
    centroids,
    neighbour_share,
    neighbours,
)
from feedback_pipeline.config import ClusterConfig  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "banking77.csv"
START, END = "<!-- themes-tuning:start -->", "<!-- themes-tuning:end -->"
CURATION = "<!-- curation-tuning:start -->", "<!-- curation-tuning:end -->"
SPLITS = (0.0, 0.1, 0.15)
CURATE_MERGES = ((2.0, 0.8), (0.15, 0.8), (0.2, 0.8), (0.15, 0.85))
COHERENT = 0.7
FLOORS = (0.0, 0.3, 0.4, 0.5)
MERGES = (2.0, 0.15, 0.12, 0.1, 0.08, 0.06)


def majority(labels: np.ndarray, truth: np.ndarray) -> dict[int, str]:
    out = {}
    for k in set(labels.tolist()) - {NOISE}:
        values, counts = np.unique(truth[labels == k], return_counts=True)
        out[k] = values[counts.argmax()]
    return out


def delivered_view(labels: np.ndarray, truth: np.ndarray, top: int = 20) -> list[float]:
    """[coherent, duplicate pairs] among the ``top`` largest themes, then among all themes."""
    from collections import Counter

    ids = [k for k, _ in Counter(labels[labels != NOISE].tolist()).most_common()]
    share = {}
    for k in ids:
        values, counts = np.unique(truth[labels == k], return_counts=True)
        share[k] = (values[counts.argmax()], counts.max() / counts.sum())
    out: list[float] = []
    for chosen in (ids[:top], ids):
        majors = Counter(share[k][0] for k in chosen)
        out += [sum(share[k][1] >= COHERENT for k in chosen),
                sum(n * (n - 1) // 2 for n in majors.values())]
    return out


def curation(X: np.ndarray, truth: np.ndarray, samples: list, t0: float) -> list[str]:
    """Section 4 of the module docstring, on ``samples`` (index arrays into X)."""
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score, roc_auc_score

    from feedback_pipeline.cluster.curate import NEIGHBOURS, curate_themes, halves

    grid: dict = {}
    coherent, intertwined = [], []
    for idx in samples:
        Xs, ys = X[idx], truth[idx]
        labels = ThemeClusterer().fit(Xs).labels_
        size = max(5, round(ClusterConfig().min_cluster_fraction * len(Xs)))
        knn = neighbours(Xs, NEIGHBOURS + 1)[0][:, 1:]
        for k in set(labels.tolist()) - {NOISE}:
            rows = np.flatnonzero(labels == k)
            if len(rows) >= 2 * size:
                _, counts = np.unique(ys[rows], return_counts=True)
                coherent.append(counts.max() / counts.sum() >= COHERENT)
                intertwined.append(halves(Xs, knn, rows)[1])
        for split in SPLITS:
            for share, similarity in CURATE_MERGES:
                out, stats = curate_themes(Xs, labels, merge_similarity=similarity,
                                           merge_share=share, split_share=split, floor=0.4,
                                           min_size=size)
                grid.setdefault((split, share, similarity), []).append([
                    *delivered_view(out, ys), len(set(out.tolist()) - {NOISE}),
                    normalized_mutual_info_score(ys, out), adjusted_rand_score(ys, out),
                    stats["split_themes"], stats["merged_duplicates"]])
        print(f"curation sample done, {time.perf_counter() - t0:.0f} s", flush=True)
    lines = [
        "### Curation before delivery (cluster/curate.py)", "",
        f"The default clustering of each sample, then curated. Over its {len(coherent)} themes "
        f"of at least twice the minimum size, {sum(coherent)} coherent (>= {COHERENT:.0%} share "
        "one intent): the halves' neighbour share predicts coherence with ROC AUC "
        f"{roc_auc_score(coherent, intertwined):.2f}. Mean of the samples:", "",
        "| split below | merge at (share, cosine) | top 20: coherent | top 20: duplicate pairs "
        "| all: coherent | all: duplicate pairs | themes | NMI | ARI | split | merged |",
        "|---|---|---|---|---|---|---|---|---|---|---|"]
    for (split, share, similarity), values in grid.items():
        m = np.mean(values, axis=0)
        lines.append(f"| {split or 'off'} | {'off' if share > 1 else (share, similarity)} "
                     f"| {m[0]:.1f} | {m[1]:.1f} | {m[2]:.1f} | {m[3]:.1f} | {m[4]:.0f} "
                     f"| {m[5]:.4f} | {m[6]:.3f} | {m[7]:.1f} | {m[8]:.1f} |")
    return lines


def main(argv: list[str] | None = None) -> None:
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score, roc_auc_score

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=3)
    parser.add_argument("--part", choices=("floor", "curation"), default="floor",
                        help="floor: sections 1-3; curation: section 4")
    parser.add_argument("--output", type=Path)
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    rows = [r for r in csv.DictReader(DATA.open(encoding="utf-8", newline=""))
            if r["split"] == "train"]
    texts, truth = [r["text"].strip() for r in rows], np.array([r["label"] for r in rows])
    X = cached_pipeline_embedder().embed(texts)
    rng = np.random.default_rng(2)
    if args.part == "curation":
        samples = [rng.choice(len(X), 3080, replace=False) for _ in range(args.samples)]
        text = "\n".join(curation(X, truth, samples, t0))
        print(text)
        if args.output:
            write_section(args.output, text, *CURATION)
        return
    sims_ok, sims_off, pairs, grid = [], [], [], {}
    for _ in range(args.samples):
        idx = rng.choice(len(X), 3080, replace=False)
        Xs, ys = X[idx], truth[idx]
        Z = ThemeClusterer().reduce(Xs)
        base = ThemeClusterer(ClusterConfig(member_min_similarity=-1.0,
                                            merge_neighbour_share=2.0)).fit(Xs, reduced=Z).labels_
        ids, C = centroids(Xs, base)
        pos = {k: i for i, k in enumerate(ids.tolist())}
        major = majority(base, ys)
        member = np.flatnonzero(base != NOISE)
        sim = np.einsum("ij,ij->i", Xs[member], C[[pos[k] for k in base[member].tolist()]])
        ok = np.array([ys[i] == major[int(base[i])] for i in member])
        sims_ok += sim[ok].tolist()
        sims_off += sim[~ok].tolist()
        knn, _ = neighbours(Xs, 11)
        share = neighbour_share(base, knn[:, 1:])
        S = C @ C.T
        for i, a in enumerate(ids.tolist()):
            for j in range(i + 1, len(ids)):
                b = int(ids[j])
                if S[i, j] >= 0.6:
                    pairs.append((float(S[i, j]), share.get((a, b), 0.0), major[a] == major[b]))
        for floor in FLOORS:
            for merge in MERGES:
                labels = ThemeClusterer(ClusterConfig(member_min_similarity=floor,
                                                      merge_neighbour_share=merge)).fit(
                    Xs, reduced=Z).labels_
                grid.setdefault((floor, merge), []).append((
                    normalized_mutual_info_score(ys, labels), adjusted_rand_score(ys, labels),
                    float((labels == NOISE).mean()), len(set(labels.tolist()) - {NOISE})))
        print(f"sample done, {time.perf_counter() - t0:.0f} s", flush=True)

    P = np.array(pairs)
    q = (1, 5, 10, 25, 50)
    lines = [
        "## How the member floor and the merge of split clusters were chosen "
        "(bench/tune_themes.py)", "",
        f"Banking77 *train* split, {args.samples} random samples of 3,080 texts (the test split "
        f"is never looked at). {(time.perf_counter() - t0) / 60:.1f} min.", "",
        "Reproduce: `python bench/tune_themes.py --output BENCHMARKS.md`", "",
        "**Member cosine to the theme's centroid** (percentiles), members of the theme's "
        "majority intent against the others:", "",
        "| members | " + " | ".join(f"p{p}" for p in q) + " |", "|---" * (len(q) + 1) + "|",
        "| majority intent | " + " | ".join(f"{v:.2f}" for v in np.percentile(sims_ok, q)) + " |",
        "| other intents | " + " | ".join(f"{v:.2f}" for v in np.percentile(sims_off, q)) + " |",
        "",
        f"**Which pairs of clusters are one intent split in two**: {len(P)} pairs with centroid "
        f"cosine >= 0.6, {int(P[:, 2].sum())} of them share their majority intent. ROC AUC: "
        f"centroid cosine {roc_auc_score(P[:, 2], P[:, 0]):.2f}, shared nearest neighbours "
        f"{roc_auc_score(P[:, 2], P[:, 1]):.2f}.", "",
        "| floor | merge_neighbour_share | NMI | ARI | noise | themes |",
        "|---|---|---|---|---|---|"]
    for (floor, merge), values in grid.items():
        m = np.mean(values, axis=0)
        lines.append(f"| {floor} | {'off' if merge > 1 else merge} | {m[0]:.4f} | {m[1]:.3f} "
                     f"| {m[2]:.1%} | {m[3]:.0f} |")
    text = "\n".join(lines)
    print(text)
    if args.output:
        write_section(args.output, text, START, END)


if __name__ == "__main__":
    main()
