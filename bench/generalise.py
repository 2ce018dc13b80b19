"""Before/after and generalisation checks of the clustering defaults (issue #16), for quality.py.

The defaults are chosen on Banking77's *train* split (bench/tune_cluster.py); quality.py reports
them on its test split. Here the same comparison runs on labelled sets that were not used to
choose anything, each built from ``../shared/data`` (SOURCES.md):

- ``stackexchange``: the 251 Stack Exchange questions (12 intents): short technical forum
  titles, the kind of text the issue saw 15% noise on;
- ``banking77-test-zipf``: an imbalanced sample of Banking77's *test* split, intent sizes
  falling like a power law (40 texts for the largest intent down to 3), as a support desk's
  requests do; small intents are legitimately noise or joined with a neighbour;
- ``tickets+forum``: the whole test split plus the Stack Exchange questions, the demo's shape
  (support tickets and community posts in one corpus, 89 labels).

Every set runs our pipeline with the configuration before issue #16 (``PREVIOUS``), with
today's defaults with the near-duplicate merge on (``merged``), with today's defaults without
the reduced-space join of over-split clusters (``unjoined``) and with today's defaults,
next to the baselines of quality.py, on the same vectors. Ours is scored after the curation a
full night applies before it stores themes (curate.py), as delivered.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
# What issue #16 changed in ClusterConfig; everything else is the same default.
PREVIOUS = {"cluster_selection_epsilon": 0.0, "recluster_leftovers": False,
            "merge_reduced_distance": 0.0}
PREVIOUS_THEMES = {"merge_share": 2.0, "split_share": 0.0}
# The near-duplicate merge as measured (BENCHMARKS.md, "Near-duplicate merge"); it ships off.
MEASURED_MERGE = {"merge_share": 0.12}
OTHER_SETS = ("stackexchange", "banking77-test-zipf", "tickets+forum")


def labelled_set(name: str) -> tuple[list[str], list[str], str]:
    """Texts, labels and a one-line description of one of ``OTHER_SETS``."""
    from quality import load_texts

    se = load_texts(SHARED / "community_posts_stackexchange.csv", "text", "label", "")
    test = load_texts(SHARED / "banking77.csv", "text", "label", "test")
    if name == "stackexchange":
        return *se, "all rows of community_posts_stackexchange.csv"
    if name == "tickets+forum":
        return test[0] + se[0], test[1] + se[1], "Banking77 test + the Stack Exchange posts"
    if name == "banking77-test-zipf":
        texts, labels = np.array(test[0], dtype=object), np.array(test[1])
        rng = np.random.default_rng(0)
        intents = rng.permutation(sorted(set(test[1])))
        keep: list[int] = []
        for rank, intent in enumerate(intents):
            rows = np.flatnonzero(labels == intent)
            size = max(3, int(round(40 * (rank + 1) ** -0.7)))
            keep += sorted(rng.choice(rows, min(size, len(rows)), replace=False).tolist())
        return (texts[keep].tolist(), labels[keep].tolist(),
                "Banking77 test, intent sizes 40 * rank^-0.7 (at least 3), seed 0")
    raise ValueError(f"unknown labelled set {name!r}; choose from {', '.join(OTHER_SETS)}")


def previous(settings):
    """``settings`` with the clustering as it was before issue #16 (no curation either)."""
    return settings.model_copy(update={
        "cluster": settings.cluster.model_copy(update=PREVIOUS),
        "themes": settings.themes.model_copy(update=PREVIOUS_THEMES)})


def merged(settings):
    """``settings`` with the near-duplicate merge (curate.py, off by default) at its measured
    setting: the merge's own effect."""
    return settings.model_copy(update={
        "themes": settings.themes.model_copy(update=MEASURED_MERGE)})


def unjoined(settings):
    """``settings`` without the join of over-split clusters in the reduced space: its own
    effect."""
    return settings.model_copy(update={
        "cluster": settings.cluster.model_copy(update={"merge_reduced_distance": 0.0})})


def before_after(texts: list[str], truth: list[str], embedder, settings, repeat: int = 1) -> dict:
    """Our pipeline before and after on the same texts; with ``repeat`` > 1 the two run back to
    back ``repeat`` times and the clustering time is the median (the labels are identical)."""
    from quality import run_pipeline, scores

    out: dict = {}
    times: dict[str, list[float]] = {"before": [], "after": [], "merged": [], "unjoined": []}
    for _ in range(max(1, repeat)):
        # After first: in quality.py's speed run it pairs with the raw encode just before it.
        for name, s in (("after", settings), ("before", previous(settings)),
                        ("merged", merged(settings)), ("unjoined", unjoined(settings))):
            run = run_pipeline(texts, embedder, s, cluster=True)
            times[name].append(run["cluster"])
            out[name] = run
    return {name: {**scores(truth, out[name]["labels"], float(np.median(times[name]))),
                   "all_seconds": times[name], "run": out[name]}
            for name in out}


ROW_BEFORE = "ours, before issue #16 (eom, no epsilon, leftovers stay noise, no merge)"
ROW_MERGED = "ours, default ClusterConfig with the near-duplicate merge on (themes.merge_share 0.12)"
ROW_UNJOINED = ("ours, default ClusterConfig without the reduced-space join "
                "(cluster.merge_reduced_distance 0)")
ROW_AFTER = "**ours** (default ClusterConfig)"


def other_sets_section(names: list[str], embedder, settings) -> list[str]:
    """Markdown for the generalisation sets: before, after and the baselines on each."""
    from quality import baselines, quality_table

    lines: list[str] = []
    for name in names:
        t0 = time.perf_counter()
        texts, truth, how = labelled_set(name)
        X = embedder.embed(texts)
        ours = before_after(texts, truth, embedder, settings)
        results = {ROW_BEFORE: ours["before"], ROW_MERGED: ours["merged"],
                   ROW_UNJOINED: ours["unjoined"], ROW_AFTER: ours["after"],
                   **baselines(X, truth)}
        lines += [f"#### {name}: {len(texts):,} texts, {len(set(truth))} labels ({how})", "",
                  *quality_table(results), ""]
        print(f"{name}: before NMI {ours['before']['nmi']:.3f} / after "
              f"{ours['after']['nmi']:.3f} ({time.perf_counter() - t0:.0f} s)", flush=True)
    return lines


__all__ = ["OTHER_SETS", "PREVIOUS", "ROW_MERGED", "ROW_UNJOINED", "before_after", "labelled_set",
           "other_sets_section", "previous", "merged", "unjoined"]
