"""Which nearest-neighbour search assigns the items outside the window (cluster/window.py)?

The window's texts (W of them, unit vectors) are indexed once; every other item asks for its
k nearest window texts. Candidates, measured side by side in one run on the same vectors:
hnswlib (HNSW graph), pynndescent (already installed with umap-learn) and exact blocked matrix
products. Vectors: the real embedded Banking77 + Stack Exchange texts (bench/vectors.py cache)
perturbed as in bench/scale.py, so the neighbourhoods look like the bench's.

    python bench/knn_choice.py [--window 50000] [--queries 100000] [--k 10]
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--window", type=int, default=50_000)
    parser.add_argument("--queries", type=int, default=100_000)
    parser.add_argument("--k", type=int, default=10)
    args = parser.parse_args()
    from bench.scale import base_vectors, perturb

    base, _labels, _texts = base_vectors()
    rng = np.random.default_rng(0)
    W = perturb(base[rng.integers(0, len(base), args.window)], rng)
    Q = perturb(base[rng.integers(0, len(base), args.queries)], rng)
    out: dict = {"window": args.window, "queries": args.queries, "k": args.k}

    t = time.perf_counter()
    exact = np.empty((len(Q), args.k), np.int64)
    for s in range(0, len(Q), 2048):
        S = Q[s:s + 2048] @ W.T
        part = np.argpartition(-S, args.k - 1, axis=1)[:, :args.k]
        exact[s:s + 2048] = np.take_along_axis(
            part, np.argsort(-np.take_along_axis(S, part, axis=1), axis=1), axis=1)
    out["exact_s"] = round(time.perf_counter() - t, 1)

    def recall(idx: np.ndarray) -> float:
        return round(float(np.mean([len(set(a) & set(b)) / args.k
                                    for a, b in zip(idx[:5000], exact[:5000], strict=True)])), 4)

    import hnswlib

    t = time.perf_counter()
    index = hnswlib.Index(space="ip", dim=W.shape[1])
    index.init_index(max_elements=len(W), ef_construction=100, M=16, random_seed=0)
    index.add_items(W, np.arange(len(W)), num_threads=1)
    index.set_ef(50)
    build = time.perf_counter() - t
    idx, _ = index.knn_query(Q, k=args.k)
    out["hnswlib_build_s"] = round(build, 1)
    out["hnswlib_total_s"] = round(time.perf_counter() - t, 1)
    out["hnswlib_recall"] = recall(idx)

    from pynndescent import NNDescent

    t = time.perf_counter()
    nnd = NNDescent(W, metric="cosine", n_neighbors=30, random_state=0)
    nnd.prepare()
    build = time.perf_counter() - t
    idx, _ = nnd.query(Q, k=args.k)
    out["pynndescent_build_s"] = round(build, 1)
    out["pynndescent_total_s"] = round(time.perf_counter() - t, 1)
    out["pynndescent_recall"] = recall(idx)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
