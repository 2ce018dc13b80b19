"""Build demo/feedback_demo.jsonl from the real public texts in ../shared/data.

Texts are used exactly as published (see README "Data and licences"); only metadata is synthetic:
dates spread over 60 days, pseudonymous customer ids and plans for the support tickets, and
like counts for the community posts. Deterministic: the same inputs give the same file.

    python demo/build_demo.py [--shared ../shared/data] [--out demo/feedback_demo.jsonl]
"""

from __future__ import annotations

import argparse
import csv
import json
import random
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

ANCHOR = datetime(2026, 11, 20, 18, 0, tzinfo=UTC)
DAYS = 60
N_INTENTS = 30
RISING = 6  # intents whose tickets cluster in the last three weeks, so growth means something


def _when(rng: random.Random, rising: bool) -> datetime:
    if rising:
        days = rng.triangular(0, 21, 0)
    else:
        days = rng.uniform(0, DAYS)
    return (ANCHOR - timedelta(days=days, minutes=rng.randint(0, 600))).replace(microsecond=0)


def build(shared: Path) -> list[dict]:
    rng = random.Random(77)
    records: list[dict] = []
    with (shared / "community_posts_stackexchange.csv").open(newline="", encoding="utf-8") as fh:
        for n, row in enumerate(csv.DictReader(fh), start=1):
            created = _when(rng, rising=False)
            site = row["source"].split(".")[0]
            records.append({
                "source": f"stackexchange-{site}",
                "kind": "community_post",
                "external_id": row["url"].rstrip("/").split("/")[-2] if row["url"] else f"se-{n}",
                "url": row["url"] or None,
                "author": row["author"] or None,
                "title": row["text"].strip(),
                "body": "",
                "created_at": created.isoformat(),
                "updated_at": created.isoformat(),
                "votes": int(rng.expovariate(1 / 4)),
                "tags": [site],
            })
    by_intent: dict[str, list[str]] = defaultdict(list)
    with (shared / "banking77.csv").open(newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            if row["split"] == "test":
                by_intent[row["label"]].append(row["text"])
    intents = sorted(by_intent)
    rng.shuffle(intents)
    chosen = sorted(intents[:N_INTENTS])
    rising = set(rng.sample(chosen, RISING))
    customers = [f"cust-{i:04d}" for i in range(700)]
    plans = {c: rng.choices(["free", "pro", "enterprise"], weights=[6, 3, 1])[0] for c in customers}
    ticket = 1000
    for intent in chosen:
        for text in by_intent[intent]:
            ticket += 1
            created = _when(rng, rising=intent in rising)
            customer = rng.choice(customers)
            records.append({
                "source": "helpdesk",
                "kind": "support_ticket",
                "external_id": str(ticket),
                "url": f"https://support.example.com/tickets/{ticket}",
                "author": customer,
                "title": "",
                "body": text.strip(),
                "created_at": created.isoformat(),
                "updated_at": (created + timedelta(hours=rng.randint(0, 48))).isoformat(),
                "customer": customer,
                "plan": plans[customer],
                "tags": [],
            })
    records.sort(key=lambda r: (r["created_at"], r["source"], r["external_id"]))
    return records


def main() -> None:
    here = Path(__file__).resolve().parent
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=here.parent.parent / "shared" / "data")
    parser.add_argument("--out", type=Path, default=here / "feedback_demo.jsonl")
    args = parser.parse_args()
    records = build(args.shared)
    with args.out.open("w", encoding="utf-8") as fh:
        for r in records:
            fh.write(json.dumps(r, ensure_ascii=False) + "\n")
    print(f"wrote {len(records)} records to {args.out}")


if __name__ == "__main__":
    main()
