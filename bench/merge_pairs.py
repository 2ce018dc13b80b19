"""How the near-duplicate merge (cluster/curate.py) was chosen: precision over every theme pair.

Six labelled sets, each clustered with the default ``ClusterConfig`` *before* curation: the two
delivered mixes of bench/delivered.py (``demo``, ``train-mix``; through the pipeline's clean and
embed stages), a 3,080-text sample of Banking77's *train* split (seed 1), and the three sets of
bench/generalise.py. For every pair of themes whose centroids are at least 0.7 alike:

- the truth: both themes have the same majority label (one request in two themes), and whether
  joining them would make a mixed theme out of two coherent ones (a *blob*: each part's majority
  share >= 0.7, the union's < 0.7);
- the label-free measures (``curate.pair_scores``): centroid cosine, neighbour share and
  exclusivity; ROC AUC of each for "same majority";
- for candidate rules: how many pairs pass, how many of those are one request, how many blobs.

Then each rule runs as curation (``curate_themes``, one join per theme, member floor kept) and
the whole partition is scored: NMI, ARI, themes, coherent themes and duplicate pairs over *all*
themes (bench/delivered.py scores the delivered top 20).

    python bench/merge_pairs.py [--output BENCHMARKS.md]

Vectors come from bench/out's cache (bench/vectors.py).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from quality import load_texts, write_section  # noqa: E402
from vectors import cached_pipeline_embedder  # noqa: E402

from feedback_pipeline.cluster.curate import curate_themes, pair_scores  # noqa: E402
from feedback_pipeline.cluster.model import NOISE, ThemeClusterer, neighbours  # noqa: E402

START, END = "<!-- merge-pairs:start -->", "<!-- merge-pairs:end -->"
SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
# (share, cosine, exclusivity); the first is what ThemesConfig ships.
RULES = [(0.12, 0.75, 0.3), (0.12, 0.75, 0.0), (0.15, 0.75, 0.0), (0.15, 0.8, 0.0),
         (0.1, 0.7, 0.3), (0.2, 0.75, 0.0)]


def mix_set(name: str, embedder):
    """A delivered mix through ingest, clean and embed; its pre-curation clustering."""
    import delivered

    from feedback_pipeline.clean.stage import clean_pending
    from feedback_pipeline.cluster.corpus import cluster_corpus
    from feedback_pipeline.config import Settings
    from feedback_pipeline.embed.stage import embed_pending
    from feedback_pipeline.ingest.source import Batch
    from feedback_pipeline.ingest.stage import save_batch
    from feedback_pipeline.warehouse.db import connect

    items, truth = delivered.MIXES[name]()
    settings = Settings()
    con = connect(":memory:")
    save_batch(con, "bench", Batch(items=items), run_id="load", salt="bench",
               bots=settings.clean.bots())
    clean_pending(con, settings.clean)
    embed_pending(con, embedder)
    c = cluster_corpus(con, embedder.model_id, settings.cluster, split_languages=True)
    con.close()
    votes: dict[int, Counter] = {}
    for (source, ext), row in zip(c.keys, c.item_rows.tolist(), strict=True):
        label = truth.get(f"{source}/{ext}")
        if label:
            votes.setdefault(row, Counter())[label] += 1
    labels = [votes[r].most_common(1)[0][0] if r in votes else None for r in range(len(c.X))]
    return c.X, c.labels, np.array(labels, dtype=object)


def plain_set(name: str, embedder):
    from generalise import labelled_set

    if name == "banking77-train-sample":
        texts, truth = load_texts(SHARED / "banking77.csv", "text", "label", "train")
        keep = np.random.default_rng(1).choice(len(texts), 3080, replace=False)
        texts, truth = [texts[i] for i in keep], [truth[i] for i in keep]
    else:
        texts, truth, _ = labelled_set(name)
    X = np.asarray(embedder.embed(texts), np.float32)
    return X, ThemeClusterer().fit(X).labels_, np.array(truth, dtype=object)


SETS = {"demo": mix_set, "train-mix": mix_set, "banking77-train-sample": plain_set,
        "stackexchange": plain_set, "banking77-test-zipf": plain_set, "tickets+forum": plain_set}


def majority(truth: np.ndarray, rows: np.ndarray) -> tuple[str | None, float]:
    found = Counter(x for x in truth[rows] if x)
    if not found:
        return None, 0.0
    label, n = found.most_common(1)[0]
    return label, n / sum(found.values())


def pairs_of(X, labels, truth) -> list[dict]:
    knn = neighbours(X, 11)[0][:, 1:]
    scores = pair_scores(X, labels, knn)
    ids = sorted(set(labels.tolist()) - {NOISE})
    major = {k: majority(truth, np.flatnonzero(labels == k)) for k in ids}
    out = []
    for (a, b), (cosine, share, exclusive) in scores.items():
        if cosine < 0.7:
            continue
        union = majority(truth, np.flatnonzero((labels == a) | (labels == b)))[1]
        out.append({"cos": cosine, "share": share, "excl": exclusive,
                    "same": major[a][0] is not None and major[a][0] == major[b][0],
                    "blob": min(major[a][1], major[b][1]) >= 0.7 > union})
    return out


def partition(truth, labels) -> dict:
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    t = np.array([x or "?" for x in truth])
    ids = sorted(set(labels.tolist()) - {NOISE})
    majors = [majority(truth, np.flatnonzero(labels == k)) for k in ids]
    return {"nmi": normalized_mutual_info_score(t, labels), "ari": adjusted_rand_score(t, labels),
            "themes": len(ids), "coherent": sum(s >= 0.7 for _, s in majors),
            "dup": sum(n * (n - 1) // 2 for n in Counter(m for m, _ in majors if m).values())}


def main(argv: list[str] | None = None) -> None:
    from sklearn.metrics import roc_auc_score

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path)
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    embedder = cached_pipeline_embedder()
    auc_rows, rule_rows, part_rows, all_pairs = [], [], [], []
    for name, build in SETS.items():
        X, labels, truth = build(name, embedder)
        pairs = pairs_of(X, labels, truth)
        all_pairs += pairs
        y = np.array([p["same"] for p in pairs])
        auc = {f: roc_auc_score(y, [p[f] for p in pairs]) if 0 < y.sum() < len(y)
               else float("nan") for f in ("cos", "share", "excl")}
        auc_rows.append(f"| {name} | {len(pairs)} | {int(y.sum())} | {auc['cos']:.2f} | "
                        f"{auc['share']:.2f} | {auc['excl']:.2f} |")
        floor, size = 0.4, max(5, round(0.003 * len(X)))
        base = partition(truth, labels)
        line = [f"| {name} | none | {base['nmi']:.4f} | {base['ari']:.3f} | {base['themes']} | "
                f"{base['coherent']} | {base['dup']} |"]
        for share, cosine, exclusive in RULES:
            out, _ = curate_themes(X, labels, merge_similarity=cosine, merge_share=share,
                                   merge_exclusivity=exclusive, split_share=0.0, floor=floor,
                                   min_size=size)
            r = partition(truth, out)
            line.append(f"| {name} | {share} / {cosine} / {exclusive} | {r['nmi']:.4f} | "
                        f"{r['ari']:.3f} | {r['themes']} | {r['coherent']} | {r['dup']} |")
        part_rows += line
        print(f"{name}: {len(pairs)} pairs, AUC {auc} ({time.perf_counter() - t0:.0f} s)",
              flush=True)
    for share, cosine, exclusive in RULES:
        passed = [p for p in all_pairs if p["share"] >= share and p["cos"] >= cosine
                  and p["excl"] >= exclusive]
        rule_rows.append(f"| {share} / {cosine} / {exclusive} | {len(passed)} | "
                         f"{sum(p['same'] for p in passed)} | {sum(p['blob'] for p in passed)} |")
    lines = [
        "## Near-duplicate merge: how it was chosen (bench/merge_pairs.py)", "",
        f"Run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {(time.perf_counter() - t0) / 60:.1f} min. "
        "Every pair of themes (centroid cosine >= 0.7) of each set's default clustering before "
        "curation; 'one request': both themes have the same majority label; 'blob': two "
        "coherent themes whose union is not (majority share < 0.7).", "",
        "Reproduce: `python bench/merge_pairs.py --output BENCHMARKS.md`", "",
        "ROC AUC of each measure for 'one request':", "",
        "| set | pairs | one request | centroid cosine | neighbour share | exclusivity |",
        "|---|---|---|---|---|---|", *auc_rows, "",
        "Pairs a rule joins, over all six sets (share / cosine / exclusivity; the first row is "
        "the default):", "",
        "| rule | pairs passing | one request | blobs |", "|---|---|---|---|", *rule_rows, "",
        "Each rule as curation (one join per theme, member floor 0.4), whole partition; "
        "coherent themes and duplicate pairs counted over all themes:", "",
        "| set | rule | NMI | ARI | themes | coherent | duplicate pairs |",
        "|---|---|---|---|---|---|---|", *part_rows]
    print("\n".join(lines))
    if args.output:
        write_section(args.output, "\n".join(lines), START, END)


if __name__ == "__main__":
    main()
