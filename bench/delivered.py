"""Delivered quality: what a PM sees in the top 20 ranked themes, scored with known labels.

Two labelled mixes of real public texts (../shared/data), each run through the real pipeline
(ingest -> clean -> embed -> cluster -> rank) in a fresh in-memory warehouse:

- ``demo``: ``demo/feedback_demo.jsonl`` exactly as ``make demo`` loads it (Banking77 *test*
  tickets of 30 intents + the 251 Stack Exchange posts); each text's label is its public intent;
- ``train-mix``: Banking77 *train* tickets of 30 intents the demo does not use (40 an intent:
  other intents, other texts) + the Stack Exchange posts, dates and authors drawn like the
  demo's.

Each mix runs twice: ``one run`` (a full clustering of everything, what ``make demo`` does) and
``3 nights`` (a full clustering of the items up to 20 days before the end, then two incremental
nights adding the rest; the later nights' forum posts are what the first night never saw).

Per top-20 theme: majority-label share of its labelled members (coherent at >= 0.7), whether
another top-20 theme has the same majority label (a duplicate pair), and the lowest cosine
similarity of a member to the theme's stored centroid. Themes held back as ``needs review``
(when the pipeline has that flag) are not delivered, so they are left out of the top 20 and
counted apart.

    python bench/delivered.py [--output BENCHMARKS.md] [--mix demo --mix train-mix]

Embeddings are cached in bench/out (bench/vectors.py); only the first run encodes.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from quality import write_section  # noqa: E402
from vectors import cached_pipeline_embedder  # noqa: E402

from feedback_pipeline import pipeline  # noqa: E402
from feedback_pipeline.clean.stage import clean_pending  # noqa: E402
from feedback_pipeline.config import Settings  # noqa: E402
from feedback_pipeline.embed.item_types import classify_pending  # noqa: E402
from feedback_pipeline.embed.stage import embed_pending  # noqa: E402
from feedback_pipeline.ingest.source import Batch  # noqa: E402
from feedback_pipeline.ingest.stage import save_batch  # noqa: E402
from feedback_pipeline.records import Item  # noqa: E402
from feedback_pipeline.warehouse.db import connect  # noqa: E402
from feedback_pipeline.warehouse.runs import open_run  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
START, END = "<!-- delivered:start -->", "<!-- delivered:end -->"
TOP = 20
COHERENT = 0.7


def _read(name: str) -> list[dict]:
    with (SHARED / name).open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def _key(text: str) -> str:
    return " ".join(text.split()).lower()


def demo_mix() -> tuple[list[Item], dict[str, str]]:
    labels = {_key(r["text"]): r["label"] for r in _read("banking77.csv") if r["split"] == "test"}
    labels.update({_key(r["text"]): f"SE:{r['label']}" for r in
                   _read("community_posts_stackexchange.csv")})
    items = []
    for line in (ROOT / "demo" / "feedback_demo.jsonl").read_text(encoding="utf-8").splitlines():
        r = json.loads(line)
        items.append(Item(
            source=r["source"], kind=r["kind"], external_id=r["external_id"], url=r.get("url"),
            author=r.get("author"), title=r.get("title", ""), body=r.get("body", ""),
            created_at=datetime.fromisoformat(r["created_at"]),
            updated_at=datetime.fromisoformat(r["updated_at"]), votes=r.get("votes", 0),
            tags=tuple(r.get("tags", ())), customer=r.get("customer"), plan=r.get("plan")))
    return items, {f"{i.source}/{i.external_id}": labels.get(_key(i.title or i.body))
                   for i in items}


def train_mix(per_intent: int = 40, intents: int = 30) -> tuple[list[Item], dict[str, str]]:
    """Banking77 *train* tickets of ``intents`` intents the demo does not use (``per_intent``
    each) and the Stack Exchange posts, dated over 60 days with random customers."""
    rng = random.Random(16)
    anchor = datetime(2026, 11, 20, 18, tzinfo=UTC)
    demo_texts = {_key(json.loads(line).get("body", "")) for line in
                  (ROOT / "demo" / "feedback_demo.jsonl").read_text("utf-8").splitlines()}
    demo_intents = {r["label"] for r in _read("banking77.csv") if _key(r["text"]) in demo_texts}
    by_intent: dict[str, list[str]] = {}
    for r in _read("banking77.csv"):
        if r["split"] == "train" and r["text"].strip() and r["label"] not in demo_intents:
            by_intent.setdefault(r["label"], []).append(r["text"].strip())
    items, truth = [], {}
    customers = [f"cust-{i:04d}" for i in range(700)]
    n = 0
    for intent in sorted(rng.sample(sorted(by_intent), min(intents, len(by_intent)))):
        for text in rng.sample(by_intent[intent], min(per_intent, len(by_intent[intent]))):
            n += 1
            when = anchor - timedelta(days=rng.uniform(0, 60))
            author = rng.choice(customers)
            items.append(Item(source="helpdesk", kind="support_ticket", external_id=f"t{n}",
                              created_at=when, updated_at=when, body=text, author=author,
                              customer=author))
            truth[f"helpdesk/t{n}"] = intent
    for k, r in enumerate(_read("community_posts_stackexchange.csv")):
        when = anchor - timedelta(days=rng.uniform(0, 60))
        items.append(Item(source="forum", kind="community_post", external_id=f"p{k}",
                          created_at=when, updated_at=when, title=r["text"].strip(),
                          author=r["author"] or f"anon-{k}", votes=int(rng.expovariate(1 / 4))))
        truth[f"forum/p{k}"] = f"SE:{r['label']}"
    return items, truth


MIXES = {"demo": demo_mix, "train-mix": train_mix}


def settings_with(overrides: list[str]) -> Settings:
    """Default settings with ``section.key=value`` overrides (values parsed as JSON)."""
    settings = Settings()
    settings.warehouse = ":memory:"
    for override in overrides:
        path, value = override.split("=", 1)
        *sections, key = path.split(".")
        target = settings
        for name in sections:
            target = getattr(target, name)
        setattr(target, key, json.loads(value))
    return settings


def run_mix(items: list[Item], embedder, nights: int, settings: Settings) -> tuple:
    """Load ``items`` into a fresh warehouse and run ``nights`` nights; returns (con, ranking)."""
    con = connect(":memory:")
    save_batch(con, "bench", Batch(items=items), run_id="load", salt="bench",
               bots=settings.clean.bots())
    clean_pending(con, settings.clean)
    embed_pending(con, embedder)
    classify_pending(con, embedder)
    end = max(i.created_at for i in items)
    days = [end] if nights == 1 else [end - timedelta(days=10 * (nights - 1 - k))
                                       for k in range(nights)]
    ranking: list[dict] = []
    curated = Counter()
    for k, day in enumerate(days):
        with open_run(con, as_of=day) as run:
            stats = run.stats["cluster"] = pipeline.stage_cluster(run, settings, full=k == 0)
            curated.update({key: stats.get(key, 0) for key in ("split_themes",
                                                               "merged_duplicates")})
            ranking = pipeline.stage_rank(run, settings)
    return con, ranking, dict(curated)


def delivered(ranking: list[dict]) -> tuple[list[dict], list[dict]]:
    """(themes a PM is sent, in rank order; themes held back for review)."""
    held = [t for t in ranking if t.get("needs_review")]
    return [t for t in ranking if not t.get("needs_review")], held


def _share(ms: list) -> tuple[str | None, float]:
    labelled = Counter(lab for lab, _, _ in ms if lab)
    major, count = labelled.most_common(1)[0] if labelled else (None, 0)
    return major, count / max(1, sum(labelled.values()))


def split_silhouette(vectors: list) -> float:
    """Silhouette (cosine) of the best two-way split of a theme: high when it is two things."""
    from sklearn.cluster import KMeans
    from sklearn.metrics import silhouette_score

    V = np.asarray(vectors, np.float32)
    if len(V) < 6:
        return 0.0
    parts = KMeans(n_clusters=2, n_init=3, random_state=0).fit_predict(V)
    return float(silhouette_score(V, parts, metric="cosine")) if len(set(parts)) == 2 else 0.0


def halves(vectors: list) -> tuple[float, float]:
    """(centroid cosine, neighbour share) of a theme's 2-means halves, as curate.py measures
    whether they are one request (high: one request; neighbours within the theme)."""
    from sklearn.cluster import KMeans

    from feedback_pipeline.cluster.curate import NEIGHBOURS, pair_score
    from feedback_pipeline.cluster.model import neighbours

    V = np.asarray(vectors, np.float32)
    if len(V) < 6:
        return 1.0, 1.0
    parts = KMeans(n_clusters=2, n_init=3, random_state=0).fit_predict(V)
    if len(set(parts)) < 2:
        return 1.0, 1.0
    knn = neighbours(V, min(NEIGHBOURS + 1, len(V)))[0][:, 1:]
    return pair_score(V, knn, np.flatnonzero(parts == 0), np.flatnonzero(parts == 1))


def coherence_fit(members: dict[int, list], vectors: dict[int, list]) -> dict:
    """How well label-free measures of every ranked theme predict its labelled coherence:
    ROC AUC for "majority share >= 0.7" and Spearman correlation with the share."""
    from scipy.stats import spearmanr
    from sklearn.metrics import roc_auc_score

    shares = np.array([_share(ms)[1] for ms in members.values()])
    measures = {
        "mean member cosine": [np.mean([s for _, s, _ in ms]) for ms in members.values()],
        "10th percentile cosine": [np.percentile([s for _, s, _ in ms], 10)
                                   for ms in members.values()],
        "min member cosine": [min(s for _, s, _ in ms) for ms in members.values()],
        "minus two-way split silhouette": [-split_silhouette(vectors[t]) for t in members],
    }
    pair = [halves(vectors[t]) for t in members]
    measures["halves' centroid cosine"] = [p[0] for p in pair]
    measures["halves' neighbour share"] = [p[1] for p in pair]
    out = {}
    for name, values in measures.items():
        values = np.array(values)
        ok = shares >= COHERENT
        auc = roc_auc_score(ok, values) if 0 < ok.sum() < len(ok) else float("nan")
        out[name] = {"auc": float(auc), "spearman": float(spearmanr(values, shares)[0])}
    out["pairs"] = [(float(np.mean([s for _, s, _ in ms])), float(_share(ms)[1]))
                    for ms in members.values()]
    return out


def score_top(con, ranking: list[dict], truth: dict[str, str]) -> dict:
    sent, held = delivered(ranking)
    top = sent[:TOP]
    rows = con.execute(
        "SELECT t.theme_id, t.source || '/' || t.external_id, e.vector, th.centroid, t.method "
        "FROM item_themes t JOIN items i USING (source, external_id) "
        "JOIN embeddings e ON e.text_hash = i.text_hash JOIN themes th USING (theme_id) "
        "WHERE list_contains($ids, t.theme_id)",
        {"ids": [t["theme_id"] for t in ranking]}).fetchall()
    members: dict[int, list] = {}
    vectors: dict[int, list] = {}
    for tid, key, vec, centroid, method in rows:
        sim = float(np.dot(np.asarray(vec, np.float32), np.asarray(centroid, np.float32)))
        members.setdefault(tid, []).append((truth.get(key), sim, method))
        vectors.setdefault(tid, []).append(vec)
    themes = []
    for t in top:
        ms = members.get(t["theme_id"], [])
        major, share = _share(ms)
        themes.append({"rank": t["rank"], "theme_id": t["theme_id"], "title": t["title"],
                       "sentence": t.get("sentence"), "keywords": list(t.get("keywords") or []),
                       "size": len(ms), "majority": major, "share": share,
                       "min_sim": min((s for _, s, _ in ms), default=1.0),
                       "coherence": t.get("coherence")})
    majors = Counter(th["majority"] for th in themes if th["majority"])
    pairs = sum(n * (n - 1) // 2 for n in majors.values())
    return {"coherent": sum(th["share"] >= COHERENT for th in themes), "top": len(themes),
            "duplicate_pairs": pairs,
            "min_member_similarity": min((th["min_sim"] for th in themes), default=1.0),
            "held_for_review": len(held), "ranked": len(ranking), "themes": themes,
            "held": [{"title": t["title"], **dict(zip(("majority", "share"),
                                                      _share(members.get(t["theme_id"], [])),
                                                      strict=True))}
                     for t in held],
            "coherence_fit": coherence_fit(members, vectors)}


def table(results: dict) -> list[str]:
    out = ["| mix | nights | coherent (of top 20) | duplicate pairs | min member similarity "
           "| held for review | themes ranked | split / merged (all nights) |",
           "|---|---|---|---|---|---|---|---|"]
    for (mix, nights), r in results.items():
        out.append(f"| {mix} | {nights} | {r['coherent']} / {r['top']} | {r['duplicate_pairs']} "
                   f"| {r['min_member_similarity']:.2f} | {r['held_for_review']} | {r['ranked']} "
                   f"| {r.get('split_themes', 0)} / {r.get('merged_duplicates', 0)} |")
    return out


def fit_table(results: dict) -> list[str]:
    """How well each label-free coherence measure predicts the labelled coherence."""
    names = [k for k in next(iter(results.values()))["coherence_fit"] if k != "pairs"]
    out = ["| mix | nights | " + " | ".join(names) + " |", "|---|---" + "|---" * len(names) + "|"]
    for (mix, nights), r in results.items():
        fit = r["coherence_fit"]
        out.append(f"| {mix} | {nights} | " + " | ".join(
            f"{fit[n]['auc']:.2f} / {fit[n]['spearman']:+.2f}" for n in names) + " |")
    return out


def detail(results: dict, mix: str, nights: int, limit: int = TOP) -> list[str]:
    r = results[(mix, nights)]
    out = [f"Top {limit} of `{mix}`, {nights} night(s):", "",
           "| # | title | items | majority label (share) | min sim |", "|---|---|---|---|---|"]
    for th in r["themes"][:limit]:
        title = th["title"].replace("|", "\\|")
        out.append(f"| {th['rank']} | {title} | {th['size']} | {th['majority']} "
                   f"({th['share']:.2f}) | {th['min_sim']:.2f} |")
    return out


def one_run(run: tuple, embedder=None) -> dict:
    """One mix for some nights, scored (a process of its own with ``--jobs``)."""
    mix, nights, overrides = run
    embedder = embedder or cached_pipeline_embedder()
    before = embedder.encoded
    items, truth = MIXES[mix]()
    con, ranking, curated = run_mix(items, embedder, nights, settings_with(overrides))
    r = {**score_top(con, ranking, truth), **curated, "encoded": embedder.encoded - before}
    con.close()
    print(f"{mix} nights={nights}: coherent {r['coherent']}/{r['top']}, duplicate pairs "
          f"{r['duplicate_pairs']}, min member similarity {r['min_member_similarity']:.2f}, "
          f"held {r['held_for_review']}; coherence AUC "
          + ", ".join(f"{k} {v['auc']:.2f}" for k, v in r["coherence_fit"].items()
                      if k != "pairs"), flush=True)
    return r


def in_processes(runs: list[tuple], jobs: int, argv: list[str]) -> list[dict]:
    """Each run in a process of its own (this script, one mix and night count each), at most
    ``jobs`` at once; their figures come back as JSON."""
    sets = [x for k, v in zip(argv, argv[1:], strict=False) if k == "--set" for x in (k, v)]
    with tempfile.TemporaryDirectory() as folder:
        commands = [[sys.executable, __file__, "--mix", mix, "--nights", str(nights), *sets,
                     "--json", str(Path(folder) / f"{mix}-{nights}.json")]
                    for mix, nights, _ in runs]
        procs: list[subprocess.Popen] = []
        for command in commands:
            while sum(p.poll() is None for p in procs) >= jobs:
                time.sleep(1)
            procs.append(subprocess.Popen(command))
        for p, command in zip(procs, commands, strict=True):
            if p.wait():
                raise SystemExit(f"{' '.join(command)} failed with exit code {p.returncode}")
        return [next(iter(json.loads(Path(c[-1]).read_text()).values())) for c in commands]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mix", action="append", choices=sorted(MIXES))
    parser.add_argument("--nights", action="append", type=int)
    parser.add_argument("--output", type=Path, help="write the section into this file")
    parser.add_argument("--json", type=Path, help="also dump every figure as JSON")
    parser.add_argument("--label", default="", help="a note for the section's heading")
    parser.add_argument("--from-json", type=Path, help="render the figures a run saved with "
                        "--json (no run)")
    parser.add_argument("--jobs", type=int, default=1,
                        help="run the mixes' nights in this many processes at once")
    parser.add_argument("--set", action="append", metavar="SECTION.KEY=JSON",
                        help="override a setting, e.g. cluster.member_min_similarity=0.4")
    args = parser.parse_args(argv)
    if args.from_json:  # render a saved run's figures (its --json) again
        saved = json.loads(args.from_json.read_text())
        results = {(k.rsplit("/", 1)[0], int(k.rsplit("/", 1)[1])): r for k, r in saved.items()}
        first = saved[next(iter(saved))]
        when = first.get("run_at") or datetime.fromtimestamp(args.from_json.stat().st_mtime, UTC)
        write_report(results, args, minutes=first.get("minutes", 0.0), when=str(when)[:16],
                     encoded=sum(r.get("encoded", 0) for r in results.values()))
        return
    embedder = cached_pipeline_embedder()
    t0 = time.perf_counter()
    runs = [(mix, nights, args.set or []) for mix in args.mix or ["demo", "train-mix"]
            for nights in args.nights or [1, 3]]
    done = in_processes(runs, args.jobs, argv or sys.argv[1:]) if args.jobs > 1 \
        else [one_run(run, embedder) for run in runs]
    results = {(mix, nights): r for (mix, nights, _), r in zip(runs, done, strict=True)}
    encoded = embedder.encoded + sum(r["encoded"] for r in done)
    minutes = (time.perf_counter() - t0) / 60
    when = f"{datetime.now(UTC):%Y-%m-%d %H:%M}"
    for r in results.values():
        r["minutes"], r["run_at"] = minutes, when
    write_report(results, args, minutes=minutes, when=when, encoded=encoded)


def write_report(results: dict, args: argparse.Namespace, *, minutes: float, when: str,
                 encoded: int) -> None:
    took = f", {minutes:.1f} min" if minutes else ""
    lines = ["## Delivered quality: the top 20 ranked themes (bench/delivered.py)", "",
             f"Run {when} UTC{args.label}{took} "
             f"({encoded} texts encoded, the rest from the cache). Coherent: at least "
             f"{COHERENT:.0%} of a theme's labelled members share one public intent. A duplicate "
             "pair: two top-20 themes whose majority intent is the same. Min member "
             "similarity: the lowest cosine of any top-20 member to its theme's centroid.", "",
             "Reproduce: `python bench/delivered.py --jobs 4 --output BENCHMARKS.md` (the four "
             "runs in parallel processes; `--from-json` renders a saved run again)", "",
             *table(results), "",
             "How well each label-free coherence measure of a theme predicts its labelled "
             "coherence, over every ranked theme: ROC AUC for \"coherent\" / Spearman "
             "correlation with the majority share (the ranking's `coherence` is the mean member "
             "cosine):", "", *fit_table(results), ""]
    for key in results:
        lines += [*detail(results, *key), ""]
    print("\n".join(lines))
    if args.output:
        write_section(args.output, "\n".join(lines), START, END)
    if args.json:
        args.json.write_text(json.dumps({f"{m}/{n}": r for (m, n), r in results.items()},
                                        indent=1, default=str))


if __name__ == "__main__":
    main()
