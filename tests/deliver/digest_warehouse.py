"""A hand-made warehouse for the digest's rules, ranked by the real rank.sql and trends.sql.

Three sources (forum and github: community posts; helpdesk: tickets), six themes, two runs: r0
(announced by the 2026-11-19 digest) and r1 (tonight, not yet announced: its items are new).
Some of tonight's items were dropped by the cleaner. Theme 5's Jira issue is Done.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from feedback_pipeline.config import RankConfig, TrendsConfig
from feedback_pipeline.rank.score import rank_themes
from feedback_pipeline.rank.trends import compute_trends
from feedback_pipeline.warehouse import db

AS_OF = datetime(2026, 11, 20, 18, 0, tzinfo=UTC)
PREVIOUS = "2026-11-19"
KIND = {"forum": "community_post", "github": "community_post", "helpdesk": "support_ticket"}
URL = {"forum": "https://forum.example.com/t/{}", "github": "https://github.com/acme/app/issues/{}",
       "helpdesk": "https://support.example.com/tickets/{}"}
THEMES = {1: "CSV export times out", 2: "Dark mode for the dashboard",
          3: "Card payment declined", 4: "Search is slow", 5: "SSO login loops",
          6: "Invoices as PDF"}
SHIPPED_ID, SHIPPED_KEY = 5, "FB-5"


def _spread(theme: int, source: str, days: list[float], item_type: str = "request") -> list:
    return [(theme, source, d, item_type) for d in days]


# (theme, source, days before AS_OF, item type)
ITEMS = [
    *_spread(1, "helpdesk", [0.2, 3, 9, 15, 22, 29], "problem"),
    *_spread(1, "forum", [0.5, 12], "question"), *_spread(1, "forum", [20], "problem"),
    *_spread(2, "github", [2, 9, 16, 23, 30]), *_spread(2, "github", [0.3, 11], "praise"),
    *_spread(3, "helpdesk", [0.1, 0.4, 1, 2, 3, 4, 5], "problem"),
    *_spread(4, "forum", [0.6, 1.5, 2.5, 3.5, 4.5], "problem"), *_spread(4, "forum", [30]),
    *_spread(4, "forum", [0.7], "praise"),
    *_spread(5, "forum", [2, 10, 18, 26], "question"),
    *_spread(6, "helpdesk", [1, 8, 15, 22]),
]
# dropped by the cleaner, first seen tonight (two) and before (one); in no theme
DROPPED = [("forum", 0.2), ("helpdesk", 0.3), ("helpdesk", 5)]


def build(path: Path | str = ":memory:"):
    """The warehouse, ranked for run r1; returns the open connection."""
    con = db.connect(path)
    con.execute("INSERT INTO runs (run_id, started_at, finished_at, status, stats) VALUES "
                "('r0', ?, ?, 'completed', ?)", [AS_OF - timedelta(days=1), AS_OF - timedelta(
                    days=1), json.dumps({"deliver": {"digest_date": PREVIOUS}})])
    con.execute("INSERT INTO runs (run_id, started_at, status) VALUES ('r1', ?, 'running')",
                [AS_OF])
    con.execute("INSERT INTO deliveries (delivery_key, sink, run_id, payload, payload_hash, "
                "status) VALUES (?, 'slack', 'r0', '{}', 'x', 'sent')",
                [f"slack:digest:{PREVIOUS}"])
    for n, (theme, source, days, item_type) in enumerate(ITEMS):
        ext = f"{source[0]}{n}"
        created = AS_OF - timedelta(days=days)
        con.execute(
            "INSERT INTO items (source, external_id, kind, url, author_hash, title, body, "
            "clean_text, votes, created_at, updated_at, content_hash, item_type, first_seen_run) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [source, ext, KIND[source], URL[source].format(ext), f"author-{n}", f"Thread {ext}",
             f"Body of {ext}", f"Text of {ext} ({item_type})", n % 3, created, created,
             f"h{n}", item_type, "r1" if days < 1 else "r0"])
        con.execute("INSERT INTO item_themes (source, external_id, theme_id, similarity, run_id) "
                    "VALUES (?, ?, ?, 0.9, 'r1')", [source, ext, theme])
    for n, (source, days) in enumerate(DROPPED):
        created = AS_OF - timedelta(days=days)
        con.execute("INSERT INTO items (source, external_id, kind, created_at, updated_at, "
                    "content_hash, drop_reason, first_seen_run) VALUES (?, ?, ?, ?, ?, 'd', "
                    "'bot', ?)", [source, f"drop{n}", KIND[source], created, created,
                                  "r1" if days < 1 else "r0"])
    for theme, title in THEMES.items():
        members = [i for i in ITEMS if i[0] == theme]
        quotes = [{"source": source, "external_id": f"{source[0]}{ITEMS.index(i)}",
                   "text": f"Quote {k} of theme {theme}",
                   "url": URL[source].format(f"{source[0]}{ITEMS.index(i)}")}
                  for k, i in enumerate(members) for source in [i[1]]]
        con.execute("INSERT INTO themes (theme_id, title, status, keywords, quotes, size, "
                    "first_seen, last_seen) VALUES (?, ?, 'active', ?, ?, ?, ?, ?)",
                    [theme, title, title.lower().split(), json.dumps(quotes), len(members),
                     AS_OF - timedelta(days=40), AS_OF])
    compute_trends(con, TrendsConfig(), run_id="r1", as_of=AS_OF)
    rank_themes(con, RankConfig(), run_id="r1", as_of=AS_OF)
    con.execute("INSERT INTO jira_issues (theme_id, issue_key, origin, jira_state, resolved_at) "
                "VALUES (?, ?, 'created', 'done', ?)",
                [SHIPPED_ID, SHIPPED_KEY, AS_OF - timedelta(hours=12)])
    return con
