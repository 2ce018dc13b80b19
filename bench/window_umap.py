"""Why a windowed full re-cluster lost NMI on the scale bench, on vectors alone (issue #17).

    python bench/window_umap.py [--items N] [--window W] [--noise 0.1] [--neighbours 15 75]

Builds the vectors bench/scale.py would put in an N-item warehouse (base text ``i % B``, its
vector perturbed by ``--noise``), takes W of them at random (a window; all of them below W) and
clusters them with the pipeline's ThemeClusterer under the default settings and each UMAP
neighbourhood asked for, and for comparison the distinct base texts alone and the window with
near-copies (cosine >= duplicate_similarity) collapsed into one row each first. No warehouse,
no sample of older items, no assignment: only the window's clustering. Prints one JSON line per
setting: texts, min cluster size, UMAP neighbours, HDBSCAN's own noise, themes, noise after the
second pass and floor, NMI against the base labels (noise one cluster) and over members only.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
from sklearn.metrics import normalized_mutual_info_score as nmi

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench import scale  # noqa: E402
from feedback_pipeline.cluster.config import ClusterConfig  # noqa: E402
from feedback_pipeline.cluster.model import (  # noqa: E402
    NOISE,
    ThemeClusterer,
    duplicate_groups,
    neighbours,
)


def report(name: str, X: np.ndarray, y: np.ndarray, labels: np.ndarray,
           model: ThemeClusterer, seconds: float) -> None:
    member = labels != NOISE
    print(json.dumps({
        "name": name, "texts": len(X), "min_cluster_size": model.min_cluster_size_,
        "umap_neighbors": model.config.umap_neighbors,
        "hdbscan_noise": round(model.hdbscan_noise_, 3),
        "themes": len(set(labels.tolist()) - {NOISE}), "noise": round(float((~member).mean()), 3),
        "nmi": round(float(nmi(y, labels)), 4),
        "nmi_members": round(float(nmi(y[member], labels[member])), 4),
        "seconds": round(seconds), "load": round(os.getloadavg()[0], 1)}), flush=True)


def fit(name: str, X: np.ndarray, y: np.ndarray, **settings) -> None:
    t = time.perf_counter()
    model = ThemeClusterer(ClusterConfig(**settings)).fit(X)
    report(name, X, y, model.labels_, model, time.perf_counter() - t)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--window", type=int, default=50_000)
    parser.add_argument("--noise", type=float, default=scale.NOISE)
    parser.add_argument("--neighbours", type=int, nargs="+", default=[15, 75])
    parser.add_argument("--bases", action="store_true", help="also the distinct bases alone")
    parser.add_argument("--collapse", action="store_true", help="also near-copies collapsed")
    args = parser.parse_args()
    base, labels, _ = scale.base_vectors()
    labels = np.array(labels, dtype=object)
    rng = np.random.default_rng(0)
    ids = np.arange(args.items)
    if args.items > args.window:
        ids = np.sort(rng.choice(args.items, args.window, replace=False))
    scale.NOISE = args.noise
    X = scale.perturb(base[ids % len(base)], np.random.default_rng(1))
    y = labels[ids % len(base)]
    tag = f"{len(X):,} of {args.items:,} items, noise {args.noise}"
    if args.bases:
        fit(f"{len(base):,} distinct bases", base, labels)
    for k in args.neighbours:
        fit(tag, X, y, umap_neighbors=k)
    if args.collapse:
        t = time.perf_counter()
        cfg = ClusterConfig()
        idx, sim = neighbours(X, 10)
        _, first, inverse = np.unique(duplicate_groups(idx, sim, cfg.duplicate_similarity),
                                      return_index=True, return_inverse=True)
        model = ThemeClusterer(cfg).fit(X[first])
        report(f"{tag}, near-copies collapsed to {len(first):,} rows", X, y,
               model.labels_[inverse], model, time.perf_counter() - t)


if __name__ == "__main__":
    main()
