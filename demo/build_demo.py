"""Build demo/feedback_demo.jsonl from the real public texts in ../shared/data.

Texts are used exactly as published (see README "Data and licences"); only metadata is synthetic:
dates spread over 60 days, pseudonymous customer ids and plans for the support tickets, and
like counts for the community posts. Deterministic: the same inputs give the same file.

Replies, for the community pulse, are synthetic metadata too (no text: they are folded into their
thread's record as ``replies`` and never embedded or clustered, so the themes do not move): a
staff member answers most threads some hours after the post, customers follow up, a bot
acknowledges a few threads (bots never count as an answer), and some threads get no staff reply.
Replies that would fall after the demo's last day are left out (those threads are still waiting).
They come from their own random generator, so the records' texts and dates are unchanged.

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
STAFF = ("staff-ana", "staff-ben", "staff-chloe", "staff-dev")
BOT = "helpbot"


def _replies(rng: random.Random, record: dict, support: bool) -> list[dict]:
    """A thread's synthetic replies (who, role, when; no text), oldest first."""
    start = datetime.fromisoformat(record["created_at"])
    out: list[tuple[datetime, str, str]] = []
    if rng.random() < (0.15 if support else 0.2):
        out.append((start + timedelta(minutes=rng.randint(1, 5)), BOT, "bot"))
    answered = rng.random() < (0.85 if support else 0.65)
    if answered:
        hours = rng.triangular(0.2, 30, 3) if support else rng.triangular(0.5, 96, 8)
        out.append((start + timedelta(hours=hours), rng.choice(STAFF), "staff"))
    for _ in range(rng.choices([0, 1, 2], weights=[5, 3, 1])[0]):
        follow_up = start + timedelta(hours=rng.uniform(0.5, 120))
        who = record["author"] if rng.random() < 0.6 or support \
            else f"member-{rng.randint(1, 400):03d}"
        out.append((follow_up, who, "customer"))
    out = sorted(r for r in out if r[0] <= ANCHOR)
    return [{"id": f"{record['external_id']}-r{n}", "author": who, "role": role,
             "created_at": when.isoformat()} for n, (when, who, role) in enumerate(out, start=1)]


def add_threads(records: list[dict]) -> None:
    """Every record becomes a thread started by a customer, with its synthetic replies."""
    rng = random.Random(1818)
    for record in records:
        record["thread_id"] = record["external_id"]
        record["author_role"] = "customer"
        record["replies"] = _replies(rng, record, record["kind"] == "support_ticket")


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
    add_threads(records)
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
