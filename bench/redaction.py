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
WORDS = ("the csv export of large reports times out again after the update please fix it "
         "call me on +44 20 7946 0958 or write jane.doe@example.com token ghp_"
         "0123456789abcdefghijABCDEFGHIJklmn password hunter2hunter2 see "
         "https://app.example.com/export?token=abc123 ip 10.1.2.3 card 4111 1111 1111 1111").split()
OLD_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+")


def inputs(n: int, rng: random.Random) -> dict[str, str]:
    plain = []
    size = 0
    while size < n:
        word = rng.choice(WORDS)
        plain.append(word)
        size += len(word) + 1
    path = "/".join(rng.choice(("export", "reports", "2024", "csv", "team_a.b-c")) for _ in
                    range(n // 6))
    return {"plain text": " ".join(plain)[:n],
            "a URL": ("https://app.example.com/" + path)[:n],
            "a base64 blob": base64.b64encode(rng.randbytes(n))[:n].decode(),
            # What made the old e-mail pattern quadratic: one long run of [\w.+-].
            "one long word": "a" * n}


def median_seconds(fn, text: str, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn(text)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    rng = random.Random(19)
    redact("warm up: jane@example.com")  # compiles the rules once, outside the timings
    data = {label: inputs(n, rng) for label, n in SIZES.items()}
    results: dict[str, dict[str, float]] = {}
    for kind in ("plain text", "a URL", "a base64 blob", "one long word"):
        results[kind] = {label: median_seconds(redact, data[label][kind], args.repeat)
                         for label in SIZES}
    old = {n: median_seconds(lambda t: OLD_EMAIL.sub("[email]", t), "a" * n, 1)
           for n in (2_000, 20_000)}
    labels = list(SIZES)
    print("| input | " + " | ".join(labels) + " | 10 KB→100 KB | 100 KB→1 MB |")
    print("|---|" + "---:|" * (len(labels) + 2))
    for kind, row in results.items():
        ratios = [row[b] / row[a] for a, b in zip(labels, labels[1:], strict=False)]
        print(f"| {kind} | " + " | ".join(f"{row[lab] * 1000:.1f} ms" for lab in labels)
              + " | " + " | ".join(f"×{r:.1f}" for r in ratios) + " |")
    print(f"\nold e-mail pattern alone on one long word: 2 KB {old[2_000] * 1000:.0f} ms, "
          f"20 KB {old[20_000] * 1000:.0f} ms (×{old[20_000] / old[2_000]:.0f} for 10x the input)")
    print(json.dumps({"repeat": args.repeat, "seconds": results, "old_email_seconds": old}))


if __name__ == "__main__":
    main()
