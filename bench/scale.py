"""A warehouse of N items on one machine: a cold full night and a warm night adding M (issue #17).

    python bench/scale.py --items N [--new M]

prints ONE JSON line: {"items", "cold_s", "warm_s", "peak_rss_mib", "themes", "nmi"} (plus the
per-stage seconds and the window's figures under "detail" on stderr).

The data: the distinct Banking77 texts (all splits, 77 intents) and Stack Exchange posts (their
label: the question's topic) in ../shared/data are embedded once with the pipeline's model
(cached in bench/out/, so a second run never loads it). Item i is base text ``i % B`` (B bases,
in a fixed shuffled order) with an opener and a closer that make its text unique (``OPENERS`` x
``CLOSERS``: 40 x 40 combinations, so up to 1,600 items per base); its vector is the base
text's vector plus Gaussian noise of standard deviation ``NOISE`` / sqrt(384) per dimension
(about 0.1 in length, cosine ~0.995 to the base: a rewording of the same request), renormalised.
These vectors go into the embedding cache keyed by each item's cleaned text's hash, so the embed
stage finds nothing to encode: the bench measures everything but the model. NMI is against the
base text's label over every item the night placed (noise counts as one more cluster, the way
bench/quality.py scores it). ``--noise 0.3`` makes the rewordings looser (cosine ~0.96 to the
base, ~0.92 to each other), so a result can be checked not to rely on near-identical copies;
``--cluster KEY=VALUE`` sets a ``[cluster]`` setting for both nights (a before/after).

The cold night (ingest, clean, embed lookup + item typing, full cluster, rank) and the warm night
(the next day's M new items: same stages, incremental cluster) each run in a fresh process so
``peak_rss_mib`` (the larger of the two) is per night. ``cold_s`` / ``warm_s`` exclude only the
vector insertion that stands in for the embedding model.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
START = datetime(2026, 1, 1, tzinfo=UTC)
DAYS = 300
NOISE = 0.1
OPENERS = ["", "Hi, ", "Hello, ", "Hey team, ", "Quick question: ", "Urgent: ", "Help! ",
           "Good morning. ", "Sorry to bother you, but ", "One more thing: ", "Hi there, ",
           "Hello again, ", "Dear support, ", "Good afternoon, ", "Question: ", "Hey, ",
           "Morning, ", "Evening all, ", "Hi folks, ", "Greetings, ", "So, ", "Okay, ",
           "Please advise: ", "Hi support, ", "Hey there, ", "Good evening, ", "Folks, ",
           "Hello team, ", "Hi all, ", "Quick one: ", "Hi guys, ", "Team, ", "Hello support, ",
           "Anyone? ", "Heads up: ", "Hi everyone, ", "Excuse me, ", "Hiya, ", "Yo, ", "Right, "]
CLOSERS = ["", " Thanks.", " Thank you!", " Please help.", " Any ideas?", " Cheers",
           " This is really annoying.", " I need this fixed today.", " Regards", " ASAP please.",
           " Thanks in advance.", " Much appreciated.", " Kind regards", " Best", " Ta.",
           " Thanks a lot!", " Help appreciated.", " Any advice?", " Many thanks.", " Thx",
           " Please advise.", " Let me know.", " Waiting for an answer.", " Cheers!",
           " Thanks again.", " Appreciate it.", " Any help welcome.", " Thank you kindly.",
           " Hope you can help.", " Thanks, team.", " Be well.", " Regards, a customer",
           " Best wishes", " Thank you so much.", " Please reply soon.", " Grateful for any help.",
           " TIA", " Thanks for reading.", " Sincerely", " All the best"]


def base_texts() -> list[tuple[str, str, str]]:
    """(kind, text, label) of every distinct text, first occurrence kept."""
    rows: list[tuple[str, str, str]] = []
    with (SHARED / "banking77.csv").open(newline="", encoding="utf-8") as fh:
        rows += [("support_ticket", r["text"].strip(), r["label"]) for r in csv.DictReader(fh)]
    with (SHARED / "community_posts_stackexchange.csv").open(newline="", encoding="utf-8") as fh:
        rows += [("community_post", r["text"].strip(), "se:" + r["label"])
                 for r in csv.DictReader(fh)]
    seen: set[str] = set()
    out = []
    for kind, text, label in rows:
        if text and text not in seen:
            seen.add(text)
            out.append((kind, text, label))
    random.Random(7).shuffle(out)
    return out


def base_vectors() -> tuple[np.ndarray, list[str], list[tuple[str, str, str]]]:
    """The base texts' vectors (the pipeline's model, cached in bench/out/), labels, texts."""
    sys.path.insert(0, str(ROOT))
    from bench.vectors import cached_pipeline_embedder

    texts = base_texts()
    X = cached_pipeline_embedder().embed([t for _, t, _ in texts])
    return X.astype(np.float32), [lab for _, _, lab in texts], texts


def perturb(X: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Each row plus isotropic noise of length ~NOISE, back to unit length."""
    Y = X + rng.normal(0.0, NOISE / np.sqrt(X.shape[1]), X.shape).astype(np.float32)
    return (Y / np.linalg.norm(Y, axis=1, keepdims=True)).astype(np.float32)


def item_text(base: str, variant: int) -> str:
    return f"{OPENERS[variant % len(OPENERS)]}{base}{CLOSERS[variant // len(OPENERS)]}"


def write_items(path: Path, texts: list, start: int, n: int, begin: datetime,
                days: float) -> None:
    """Items ``start .. start+n`` as a JSONL file the files connector reads."""
    B = len(texts)
    rng = random.Random(start)
    with path.open("w", encoding="utf-8") as fh:
        for i in range(start, start + n):
            kind, text, _ = texts[i % B]
            variant = i // B
            if variant >= len(OPENERS) * len(CLOSERS):
                raise SystemExit(f"--items too large: at most {B * len(OPENERS) * len(CLOSERS)}")
            created = begin + timedelta(seconds=rng.uniform(0, days * 86400))
            fh.write(json.dumps({
                "source": "bench", "kind": kind, "external_id": str(i),
                "author": f"user{i % 9973}", "body": item_text(text, variant),
                "created_at": created.replace(microsecond=0).isoformat()}) + "\n")


def fill_cache(warehouse: str, base: np.ndarray) -> int:
    """Vectors for every cleaned item still without one: its base's vector, perturbed (seeded
    by the item's number, so reruns give the same vectors). Stands in for the model."""
    from feedback_pipeline.config import Settings
    from feedback_pipeline.embed.stage import save_vectors
    from feedback_pipeline.pipeline import embedder_for  # noqa: F401 - model id only
    from feedback_pipeline.warehouse.db import connect, transaction

    model = Settings().embed.model
    con = connect(warehouse)
    rows = con.execute(
        "SELECT DISTINCT ON (i.text_hash) i.text_hash, CAST(i.external_id AS BIGINT) FROM items i "
        "WHERE i.drop_reason IS NULL AND i.text_hash IS NOT NULL AND NOT EXISTS (SELECT 1 FROM "
        "embeddings e WHERE e.text_hash = i.text_hash AND e.model = ?)", [model]).fetchall()
    B = len(base)
    for s in range(0, len(rows), 50_000):
        part = rows[s:s + 50_000]
        ids = np.array([r[1] for r in part], dtype=np.int64)
        rng = np.random.default_rng(int(ids[0]) if len(ids) else 0)
        with transaction(con):
            save_vectors(con, model, [r[0] for r in part], perturb(base[ids % B], rng))
    con.close()
    return len(rows)


def run_stage_night(warehouse: str, data_dir: str, full: bool, phase: str) -> dict:
    """``phase`` "load": ingest + clean; "rest": embed lookup, cluster, rank (same run)."""
    from feedback_pipeline import pipeline
    from feedback_pipeline.config import FileSourceConfig, load_settings
    from feedback_pipeline.warehouse.db import connect
    from feedback_pipeline.warehouse.runs import open_run

    # --cluster overrides (a measurement's before/after), handed over by the parent process.
    settings = load_settings(None, warehouse=warehouse,
                             cluster=json.loads(os.environ.get("SCALE_CLUSTER", "{}")) or None)
    settings.sources = [FileSourceConfig(name=p.stem, path=p, default_kind="support_ticket")
                        for p in sorted(Path(data_dir).glob("*.jsonl"))]
    timings: dict[str, float] = {}
    stage_peaks: dict[str, int] = {"start": _peak_mib()}  # imports and settings
    con = connect(settings.warehouse, limits=settings.duckdb)
    stages = (("ingest", lambda r: pipeline.stage_ingest(r, settings)),
              ("clean", lambda r: pipeline.stage_clean(r, settings))) if phase == "load" else (
        ("embed", lambda r: pipeline.stage_embed(r, settings)),
        ("cluster", lambda r: pipeline.stage_cluster(r, settings, full=full)),
        ("rank", lambda r: pipeline.stage_rank(r, settings)))
    with open_run(con, as_of=settings.rank.as_of) as run:
        # Recorded in the run, as the flow does: the next night reads when the last full
        # re-cluster was (without it every night would be a full one).
        stats = run.stats
        for name, fn in stages:
            _reset_peak()
            t = time.perf_counter()
            result = fn(run)
            timings[name] = round(time.perf_counter() - t, 1)
            stage_peaks[name] = _peak_mib()
            stats[name] = result if isinstance(result, dict) else {"ranked": len(result)}
    con.close()
    # Resetting VmHWM between stages resets ru_maxrss too: the night's peak is the stages' max.
    peak = max([*stage_peaks.values(), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024])
    return {"timings": timings, "peak_mib": round(peak), "stage_peak_mib": stage_peaks,
            "cluster": stats.get("cluster", {})}


def _reset_peak() -> None:
    """Start a stage's peak afresh (Linux: writing 5 to clear_refs resets VmHWM), so each
    stage's own high-water mark is read, not the process's so far."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass  # elsewhere the per-stage peaks are the process's running peak


def _peak_mib() -> int:
    """This process's peak resident memory since the last ``_reset_peak`` (MiB)."""
    try:
        status = Path("/proc/self/status").read_text()
        return int(next(line.split()[1] for line in status.splitlines()
                        if line.startswith("VmHWM:"))) // 1024
    except (OSError, StopIteration):
        return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


def score(warehouse: str, labels: list[str], n_base: int) -> tuple[int, float]:
    from sklearn.metrics import normalized_mutual_info_score

    from feedback_pipeline.warehouse.db import connect

    con = connect(warehouse, read_only=True)
    themes = con.execute("SELECT count(*) FROM themes WHERE status = 'active'").fetchone()[0]
    got = con.execute("SELECT CAST(external_id AS BIGINT) AS item, theme_id "
                      "FROM item_themes").fetchnumpy()
    con.close()
    truth = np.array(labels, dtype=object)[got["item"] % n_base]
    return themes, round(float(normalized_mutual_info_score(truth, got["theme_id"])), 4)


def main() -> None:
    global NOISE
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int)
    parser.add_argument("--new", type=int, default=10_000)
    parser.add_argument("--keep", type=Path, help="keep the warehouse here (a folder)")
    parser.add_argument("--noise", type=float, default=NOISE, help="length of each item's "
                        "perturbation (default %(default)s; 0.3: rewordings at cosine ~0.92)")
    parser.add_argument("--cluster", action="append", default=[], metavar="KEY=VALUE",
                        help="a [cluster] setting for both nights, e.g. window_umap_fraction=0")
    parser.add_argument("--night", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.night:
        print(json.dumps(run_stage_night(args.night[0], args.night[1], args.night[2] == "1",
                                         args.night[3])))
        return
    if not args.items:
        parser.error("--items is required")
    NOISE = args.noise
    overrides = dict(kv.split("=", 1) for kv in args.cluster)
    base, labels, texts = base_vectors()
    work = args.keep or Path(tempfile.mkdtemp(prefix="fp-scale-"))
    work.mkdir(parents=True, exist_ok=True)
    data = work / "data"
    data.mkdir(exist_ok=True)
    warehouse = str(work / "wh.duckdb")
    env = {**os.environ, "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "HF_HUB_OFFLINE": "1",
           "SCALE_CLUSTER": json.dumps(overrides)}
    write_items(data / "history.jsonl", texts, 0, args.items, START, DAYS)

    def stage(full: bool, phase: str) -> dict:
        out = subprocess.run([sys.executable, __file__, "--night", warehouse, str(data),
                              "1" if full else "0", phase], capture_output=True, text=True,
                             env=env, check=False)
        if out.returncode:
            sys.stderr.write(out.stderr[-5000:])
            raise SystemExit(f"the {phase} part of a night failed")
        return json.loads(out.stdout.strip().splitlines()[-1])

    def night(full: bool) -> tuple[dict, float]:
        load = stage(full, "load")
        t = time.perf_counter()
        filled = fill_cache(warehouse, base)
        cache_s = time.perf_counter() - t
        rest = stage(full, "rest")
        detail = {"timings": {**load["timings"], **rest["timings"]}, "cache_fill_s":
                  round(cache_s, 1), "vectors_filled": filled,
                  "peak_mib": max(load["peak_mib"], rest["peak_mib"]),
                  "stage_peak_mib": {**load["stage_peak_mib"], **rest["stage_peak_mib"]},
                  "cluster": rest["cluster"]}
        return detail, sum(detail["timings"].values())

    load_avg = [os.getloadavg()[0]]
    cold, cold_s = night(True)
    write_items(data / "night2.jsonl", texts, args.items, args.new,
                START + timedelta(days=DAYS), 1)
    warm, warm_s = night(False)
    load_avg.append(os.getloadavg()[0])
    themes, nmi = score(warehouse, labels, len(texts))
    sys.stderr.write(json.dumps({"cold": cold, "warm": warm, "load_avg": load_avg,
                                 "noise": NOISE, "cluster": overrides,
                                 "work": str(work)}) + "\n")
    print(json.dumps({"items": args.items, "cold_s": round(cold_s, 1), "warm_s": round(warm_s, 1),
                      "peak_rss_mib": max(cold["peak_mib"], warm["peak_mib"]),
                      "themes": themes, "nmi": nmi}))


if __name__ == "__main__":
    main()
