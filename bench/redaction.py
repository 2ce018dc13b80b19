"""Redaction time against input size: 10 KB, 100 KB and 1 MB of plain text, one URL and one
base64 blob, measured side by side in one run (medians of ``--repeat`` runs), with the growth
ratio from each size to the next (10x the input: ~10x the time when linear, ~100x when
quadratic as the old e-mail pattern was). Also the old e-mail pattern alone on one long word
of 2 KB and 20 KB, for contrast. Prints a Markdown table (for BENCHMARKS.md) and one JSON line.

    python bench/redaction.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import random
import re
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from feedback_pipeline.redact import redact  # noqa: E402

SIZES = {"10 KB": 10_000, "100 KB": 100_000, "1 MB": 1_000_000}
PROSE = ("the csv export of large reports times out again after the update and we lose the "
         "whole afternoon please fix it soon our team of twelve uses it every monday for the "
         "billing review with the dashboard").split()
PII = ("+44 20 7946 0958", "jane.doe@example.com", "ghp_0123456789abcdefghijABCDEFGHIJklmn",
       "password hunter2hunter2", "https://app.example.com/export?token=abc123", "10.1.2.3",
       "4111 1111 1111 1111", "@jane.doe", "sk_live_4eC39HqLyjWDarjtT1zdp7dc")
OLD_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+")


def _text(n: int, rng: random.Random, every: int) -> str:
    """Prose with one personal-data or secret item every ``every`` words."""
    out, size = [], 0
    while size < n:
        word = rng.choice(PII) if rng.randrange(every) == 0 else rng.choice(PROSE)
        out.append(word)
        size += len(word) + 1
    return " ".join(out)[:n]


def inputs(n: int, rng: random.Random) -> dict[str, str]:
    path = "/".join(rng.choice(("export", "reports", "2024", "csv", "team_a.b-c")) for _ in
                    range(n // 6))
    return {"plain text (PII every ~40 words)": _text(n, rng, 40),
            "PII-dense text (every ~3 words)": _text(n, rng, 3),
            "a URL": ("https://app.example.com/" + path)[:n],
            "a base64 blob": base64.b64encode(rng.randbytes(n))[:n].decode(),
            # What made the old e-mail pattern quadratic: one long run of [\w.+-].
            "one long word": "a" * n}


def median_seconds(fn, text: str, repeat: int, clock=time.perf_counter) -> float:
    """Median over ``repeat`` runs on ``clock`` (wall time, or the process's CPU time, which a
    busy shared machine disturbs less)."""
    times = []
    for _ in range(repeat):
        start = clock()
        fn(text)
        times.append(clock() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    rng = random.Random(19)
    redact("warm up: jane@example.com")  # compiles the rules once, outside the timings
    data = {label: inputs(n, rng) for label, n in SIZES.items()}
    results: dict[str, dict[str, float]] = {}
    wall: dict[str, float] = {}
    for kind in data["1 MB"]:
        results[kind] = {label: median_seconds(redact, data[label][kind], args.repeat,
                                               time.process_time) for label in SIZES}
        wall[kind] = median_seconds(redact, data["1 MB"][kind], args.repeat)
    old = {n: median_seconds(lambda t: OLD_EMAIL.sub("[email]", t), "a" * n, 1)
           for n in (2_000, 20_000)}
    labels = list(SIZES)
    print(f"CPU time, median of {args.repeat} (load average {os.getloadavg()[0]:.1f} on "
          f"{os.cpu_count()} cores)\n")
    print("| input | " + " | ".join(labels) + " | 10 KB→100 KB | 100 KB→1 MB | 1 MB wall |")
    print("|---|" + "---:|" * (len(labels) + 3))
    for kind, row in results.items():
        ratios = [row[b] / row[a] for a, b in zip(labels, labels[1:], strict=False)]
        print(f"| {kind} | " + " | ".join(f"{row[lab] * 1000:.1f} ms" for lab in labels)
              + " | " + " | ".join(f"×{r:.1f}" for r in ratios)
              + f" | {wall[kind] * 1000:.0f} ms |")
    print(f"\nold e-mail pattern alone on one long word: 2 KB {old[2_000] * 1000:.0f} ms, "
          f"20 KB {old[20_000] * 1000:.0f} ms (×{old[20_000] / old[2_000]:.0f} for 10x the input)")
    print(json.dumps({"repeat": args.repeat, "cpu_seconds": results, "wall_seconds_1mb": wall,
                      "old_email_seconds": old}))


if __name__ == "__main__":
    main()
