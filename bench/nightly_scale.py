"""Cold run vs warm nightly run on a 100k-item warehouse (issue #4).

Builds a synthetic warehouse of N items from the real texts in ../shared/data (Banking77 and the
Stack Exchange posts) with light, deterministic variation (greetings, sign-offs, word order of
a clause, casing) so every text is distinct and must really be embedded. Then, side by side in
one run, each in its own process so peak memory is per run:

  cold:  ingest + clean + embed + full cluster + rank of all N items into an empty warehouse;
  warm:  the next night: 1,000 new items, ingest + clean + embed + incremental cluster + rank.

Prefect's own overhead is not included (the stages are called directly, as the flow's tasks do).

    python bench/nightly_scale.py [--items 100000] [--new 1000] [--out BENCHMARKS.md]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
START = datetime(2026, 6, 1, tzinfo=UTC)
DAYS = 120

OPENERS = ["", "", "", "Hi, ", "Hello, ", "Hey team, ", "Quick question: ", "Urgent: ", "Help! ",
           "Good morning. ", "Sorry to bother you, but ", "One more thing: "]
CLOSERS = ["", "", "", " Thanks.", " Thank you!", " Please help.", " Any ideas?", " Cheers",
           " This is really annoying.", " I need this fixed today.", " Regards", " ASAP please."]


def base_texts() -> list[tuple[str, str]]:
    rows = []
    with (SHARED / "banking77.csv").open(newline="", encoding="utf-8") as fh:
        rows += [("support_ticket", r["text"].strip()) for r in csv.DictReader(fh)]
    with (SHARED / "community_posts_stackexchange.csv").open(newline="", encoding="utf-8") as fh:
        rows += [("community_post", r["text"].strip()) for r in csv.DictReader(fh)]
    return rows


def vary(text: str, rng: random.Random) -> str:
    t = text
    if rng.random() < 0.3:
        t = t[0].lower() + t[1:] if t else t
    if rng.random() < 0.15 and "," in t:
        a, b = t.split(",", 1)
        t = f"{b.strip().rstrip('?.!')}, {a.strip()}"
    return f"{rng.choice(OPENERS)}{t}{rng.choice(CLOSERS)}"


def make_records(n: int, seed: int, start: datetime, days: float, id_offset: int = 0,
                 seen: set[str] | None = None, originals: bool = True) -> list[dict]:
    """n distinct records; ``seen`` (updated) holds texts to avoid, e.g. the history's, so a
    later night's items are really new and must be embedded. ``originals``: start with every
    base text unvaried (the history), else vary all of them (a later night)."""
    rng = random.Random(seed)
    pool = base_texts()
    prefix = pool if originals else []
    seen = set() if seen is None else seen
    out = []
    i = 0
    while len(out) < n:
        if i < len(prefix):
            kind, t = prefix[i]
        else:
            kind, text = rng.choice(pool)
            t = vary(text, rng)
        i += 1
        if t in seen:
            continue
        seen.add(t)
        created = start + timedelta(seconds=rng.uniform(0, days * 86400))
        out.append({"source": "bench", "kind": kind, "external_id": str(id_offset + len(out)),
                    "author": f"user{rng.randrange(n // 3 + 1)}", "body": t,
                    "created_at": created.replace(microsecond=0).isoformat()})
    return out


def write_jsonl(path: Path, records: list[dict]) -> None:
    with path.open("w", encoding="utf-8") as fh:
        for r in records:
            fh.write(json.dumps(r) + "\n")


def run_night(warehouse: str, data_dir: str, full: bool) -> dict:
    """One night's stages in this process; returns timings and peak memory."""
    from feedback_pipeline import pipeline
    from feedback_pipeline.config import FileSourceConfig, load_settings
    from feedback_pipeline.warehouse.db import connect
    from feedback_pipeline.warehouse.runs import open_run

    settings = load_settings(None, warehouse=warehouse)
    # One source per file, as each night's delivery would be: unchanged files are skipped.
    settings.sources = [FileSourceConfig(name=p.stem, path=p, default_kind="support_ticket")
                        for p in sorted(Path(data_dir).glob("*.jsonl"))]
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    con = connect(settings.warehouse)
    with open_run(con, as_of=settings.rank.as_of) as run:
        stats = run.stats
        for name, fn in (
            ("ingest", lambda: pipeline.stage_ingest(run, settings)),
            ("clean", lambda: pipeline.stage_clean(run, settings)),
            ("embed", lambda: pipeline.stage_embed(run, settings)),
            ("cluster", lambda: pipeline.stage_cluster(run, settings, full=full)),
            ("rank", lambda: pipeline.stage_rank(run, settings)),
        ):
            t = time.perf_counter()
            result = fn()
            timings[name] = round(time.perf_counter() - t, 1)
            stats[name] = result if isinstance(result, dict) else {"ranked": len(result)}
    con.close()
    timings["total"] = round(time.perf_counter() - t0, 1)
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"timings": timings, "peak_mib": round(peak_mib), "cluster": stats["cluster"],
            "embedded": stats["embed"]["embedded"], "ingested": stats["ingest"]["new"]}


def write_report(out: Path, n: int, new: int, cold: dict, warm: dict, load: list[float]) -> None:
    ratio = warm["timings"]["total"] / cold["timings"]["total"]
    stages = ["ingest", "clean", "embed", "cluster", "rank", "total"]
    lines = [
        "<!-- scale:start -->",
        "## Nightly run at scale: cold vs warm (issue #4)",
        "",
        f"Synthetic warehouse of {n:,} distinct items built from the real Banking77 and Stack "
        "Exchange texts with light variation; the warm night adds "
        f"{new:,} new items. Measured side by side in one run, each night in its own process "
        f"(2 cores, {datetime.now(UTC):%Y-%m-%d}; load average {load[0]:.1f} at the start, "
        f"{load[1]:.1f} at the end). The warm night ran {len(warm['all_totals'])} times on "
        f"copies of the cold warehouse (totals {warm['all_totals']} s); the median run is "
        "shown. Prefect overhead excluded; each night loads the model in its own process.",
        "",
        "| stage | cold (s) | warm (s) |",
        "|---|---|---|",
        *[f"| {s} | {cold['timings'][s]} | {warm['timings'][s]} |" for s in stages],
        f"| peak memory (MiB) | {cold['peak_mib']} | {warm['peak_mib']} |",
        "",
        f"Warm / cold: **{ratio:.1%}** (target ≤ 10%); warm total **{warm['timings']['total']} s** "
        "(target ≤ 90 s).",
        f"Cold: {cold['cluster'].get('themes')} themes, noise {cold['cluster'].get('noise_fraction')}. "
        f"Warm ({warm['cluster'].get('mode')}): {warm['cluster'].get('pending')} pending items, "
        f"{warm['cluster'].get('assigned')} assigned to existing themes, "
        f"{warm['cluster'].get('reclustered')} re-clustered, {warm['cluster'].get('new_themes')} "
        "new themes.",
        "",
        f"Reproduce: `python bench/nightly_scale.py --items {n} --new {new}`",
        "<!-- scale:end -->",
    ]
    block = "\n".join(lines)
    text = out.read_text(encoding="utf-8") if out.exists() else "# Benchmarks\n"
    if "<!-- scale:start -->" in text:
        head, rest = text.split("<!-- scale:start -->", 1)
        text = head + block + rest.split("<!-- scale:end -->", 1)[1]
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    out.write_text(text, encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--new", type=int, default=1_000)
    parser.add_argument("--repeat", type=int, default=3, help="warm nights to time (median)")
    parser.add_argument("--out", type=Path, default=ROOT / "BENCHMARKS.md")
    parser.add_argument("--night", nargs=3, metavar=("WAREHOUSE", "DATA_DIR", "FULL"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.night:
        print(json.dumps(run_night(args.night[0], args.night[1], args.night[2] == "1")))
        return
    work = Path(tempfile.mkdtemp(prefix="fp-scale-"))
    data = work / "data"
    data.mkdir()
    warehouse = str(work / "wh.duckdb")
    seen: set[str] = set()
    write_jsonl(data / "history.jsonl", make_records(args.items, 1, START, DAYS, seen=seen))
    env = {**os.environ, "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "HF_HUB_OFFLINE": "1"}

    def night(full: bool) -> dict:
        out = subprocess.run([sys.executable, __file__, "--night", warehouse, str(data),
                              "1" if full else "0"], capture_output=True, text=True, env=env,
                             check=True)
        return json.loads(out.stdout.strip().splitlines()[-1])

    load = [os.getloadavg()[0]]
    cold = night(True)
    print("cold", json.dumps(cold), flush=True)
    write_jsonl(data / "night2.jsonl", make_records(args.new, 2, START + timedelta(days=DAYS),
                                                    1, id_offset=10_000_000, seen=seen,
                                                    originals=False))
    # The warm night runs --repeat times on copies of the cold warehouse; the median is reported.
    snapshot = work / "cold.duckdb"
    shutil.copy(warehouse, snapshot)
    warms = []
    for _ in range(args.repeat):
        shutil.copy(snapshot, warehouse)
        warms.append(night(False))
        print("warm", json.dumps(warms[-1]), flush=True)
    load.append(os.getloadavg()[0])
    warm = sorted(warms, key=lambda w: w["timings"]["total"])[len(warms) // 2]
    warm["all_totals"] = [w["timings"]["total"] for w in warms]
    write_report(args.out, args.items, args.new, cold, warm, load)
    shutil.rmtree(work, ignore_errors=True)
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
