"""Build demo/accounts_demo.csv: a synthetic accounts file for the demo's helpdesk customers.

Every customer id the demo's support tickets carry (``cust-0318``, ...) gets one account row with
the plan its tickets give, a segment, a revenue and, for paying accounts, a made-up company name.
Nothing here is real: names are drawn from two word lists, revenue from the ranges below.

- free: segment ``smb``, ARR 0 (they count as accounts affected, never as revenue);
- pro: segment ``smb`` or ``mid-market``, ARR 6k-40k; about a third give ``mrr`` instead
  (billed monthly), which the loader turns into ARR (x 12, ``accounts.mrr_to_arr``);
- enterprise: segment ``enterprise``, ARR 60k-600k (log-uniform), an account owner.

Deterministic (seeded): the same demo data gives the same file.

    python demo/build_accounts.py [--demo demo/feedback_demo.jsonl] [--out demo/accounts_demo.csv]
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import random
from collections import Counter
from pathlib import Path

FIRST = ["Acme", "Blue", "Cobalt", "Delta", "Ember", "Fjord", "Granite", "Harbor", "Iris",
         "Juniper", "Kestrel", "Lumen", "Maple", "Nimbus", "Orchid", "Pioneer", "Quartz",
         "Redwood", "Summit", "Tidal", "Umber", "Vertex", "Willow", "Zephyr"]
SECOND = ["Analytics", "Bank", "Capital", "Dynamics", "Freight", "Health", "Labs", "Logistics",
          "Media", "Payments", "Retail", "Robotics", "Systems", "Travel", "Ventures", "Works"]
OWNERS = ["am-north", "am-south", "am-east", "am-west"]


def build(demo: Path) -> list[dict]:
    plans: dict[str, Counter] = {}
    for line in demo.read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        if record.get("customer"):
            plans.setdefault(str(record["customer"]), Counter())[record.get("plan") or "free"] += 1
    rng = random.Random(18)
    names: set[str] = set()
    rows = []
    for customer in sorted(plans):
        plan = plans[customer].most_common(1)[0][0]
        row = {"customer": customer, "name": "", "plan": plan, "segment": "smb", "arr": "",
               "mrr": "", "owner": ""}
        if plan == "free":
            row["arr"] = "0"
        else:
            while True:  # a unique made-up company name
                name = f"{rng.choice(FIRST)} {rng.choice(SECOND)}"
                if name not in names:
                    names.add(name)
                    break
            row["name"] = name
            if plan == "enterprise":
                row.update(segment="enterprise", owner=rng.choice(OWNERS),
                           arr=str(int(round(math.exp(rng.uniform(math.log(60e3),
                                                                  math.log(600e3))), -3))))
            else:
                row["segment"] = rng.choice(["smb", "mid-market"])
                arr = round(rng.uniform(6e3, 40e3), -2)
                if rng.random() < 1 / 3:
                    row["mrr"] = f"{arr / 12:.2f}"
                else:
                    row["arr"] = f"{arr:.0f}"
        rows.append(row)
    return rows


def main() -> None:
    here = Path(__file__).resolve().parent
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--demo", type=Path, default=here / "feedback_demo.jsonl")
    parser.add_argument("--out", type=Path, default=here / "accounts_demo.csv")
    args = parser.parse_args()
    rows = build(args.demo)
    with args.out.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    print(f"wrote {len(rows)} accounts to {args.out}")


if __name__ == "__main__":
    main()
