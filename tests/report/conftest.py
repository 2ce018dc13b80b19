"""A small hand-made warehouse for the PM report, ranked by the real rank.sql and trends.sql.

Three sources, four active themes (one below ``min_authors``), one rejected theme, one theme
whose Jira issue is Done. The constants below are what the tests expect to see on the page.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from feedback_pipeline.config import RankConfig, TrendsConfig
from feedback_pipeline.rank.score import rank_themes
from feedback_pipeline.rank.trends import compute_trends
from feedback_pipeline.report.html import write_report
from feedback_pipeline.warehouse import db

from .browser import INSTALL_HINT, Chromium, Page, find_chromium

AS_OF = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
RUN_ID = "run-report-1"
KIND = {"forum": "community_post", "github": "community_post", "helpdesk": "support_ticket"}
URL = {"forum": "https://forum.example.com/t/{}", "github": "https://github.com/acme/app/issues/{}",
       "helpdesk": "https://support.example.com/tickets/{}"}
LEAKY_EMAIL = "jane.doe@example.com"
LEAKY_URL = "https://forum.example.com/t/e1?token=s3cr3tvalue99"
HOSTILE = f"Export dies <script>window.pwned=1</script><b>bold</b> mail {LEAKY_EMAIL}"

# theme_id: (title, status, days since first seen)
THEMES = {
    1: ("CSV export times out on large reports", "active", 40),
    2: ("Dark mode for the dashboard", "active", 40),
    3: ("SSO login loops back to the sign-in page", "active", 3),
    4: ("Webhook retries", "active", 30),  # 2 distinct authors only: never ranked
    5: ("Spam about crypto", "rejected", 30),
}
# (external_id, theme_id, source, author, days before AS_OF, item type, language)
ITEMS = [
    # theme 1: forum + helpdesk, requests and problems, English and German; 4 of 8 in the last
    # week against one a week before: rising
    ("e1", 1, "forum", "a1", 1, "problem", "en"),
    ("e2", 1, "forum", "a2", 2, "request", "en"),
    ("e3", 1, "helpdesk", "a3", 3, "problem", "de"),
    ("e4", 1, "helpdesk", "a4", 5, "problem", "en"),
    ("e5", 1, "forum", "a5", 9, "request", "de"),
    ("e6", 1, "helpdesk", "a6", 16, "problem", "en"),
    ("e7", 1, "forum", "a1", 23, "request", "en"),
    ("e8", 1, "helpdesk", "a2", 30, "question", "en"),
    # theme 2: GitHub only, requests; its Jira issue is Done
    ("d1", 2, "github", "b1", 4, "request", "en"),
    ("d2", 2, "github", "b2", 11, "request", "en"),
    ("d3", 2, "github", "b3", 18, "request", "fr"),
    ("d4", 2, "github", "b4", 25, "request", "en"),
    ("d5", 2, "github", "b1", 33, "praise", "en"),
    # theme 3: helpdesk only, problems, first seen 3 days ago: new
    ("s1", 3, "helpdesk", "c1", 1, "problem", "en"),
    ("s2", 3, "helpdesk", "c2", 2, "problem", "fr"),
    ("s3", 3, "helpdesk", "c3", 3, "question", "en"),
    # theme 4: forum, below min_authors
    *[(f"w{i}", 4, "forum", "xy"[i % 2], i + 1, "problem", "en") for i in range(4)],
    # theme 5: rejected
    *[(f"r{i}", 5, "forum", f"spam{i}", i + 1, "request", "en") for i in range(4)],
]
QUOTES = {
    1: [("forum", "e1", HOSTILE, LEAKY_URL),
        ("helpdesk", "e3", "Der CSV-Export bricht nach 10 Minuten ab.", None),
        ("forum", "e2", "Please make CSV export work for big reports.", None)],
    2: [("github", "d1", "A dark theme would save my eyes at night.", None)],
    3: [("helpdesk", "s1", "SSO sends me back to the login page every time.", None)],
    4: [("forum", "w0", "Webhooks are not retried.", None)],
}
RANKED_IDS = {1, 2, 3}
SHIPPED_ID, SHIPPED_KEY = 2, "FB-42"
JIRA_SERVER = "https://acme.atlassian.net"
# What each filter leaves visible, from ITEMS.
VISIBLE = {("", ""): {1, 2, 3}, ("github", ""): {2}, ("helpdesk", ""): {1, 3},
           ("forum", ""): {1}, ("", "problem"): {1, 3}, ("forum", "problem"): {1},
           ("github", "problem"): set()}


def build_warehouse(path: Path) -> Path:
    """Fill a fresh warehouse file with the rows above and rank it; return its path."""
    con = db.connect(path)
    try:
        for theme_id, (title, status, first_days) in THEMES.items():
            quotes = [{"source": s, "external_id": e, "text": t,
                       "url": u if u is not None else URL[s].format(e)}
                      for s, e, t, u in QUOTES.get(theme_id, [])]
            con.execute("INSERT INTO themes (theme_id, title, status, keywords, quotes, size, "
                        "first_seen, last_seen) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                        [theme_id, title, status, title.lower().split()[:3], json.dumps(quotes),
                         sum(1 for i in ITEMS if i[1] == theme_id),
                         AS_OF - timedelta(days=first_days), AS_OF])
        for ext, theme_id, source, author, days, item_type, lang in ITEMS:
            created = AS_OF - timedelta(days=days)
            con.execute(
                "INSERT INTO items (source, external_id, kind, url, author_hash, title, body, "
                "votes, created_at, updated_at, content_hash, item_type, language) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [source, ext, KIND[source], URL[source].format(ext), author, f"Thread {ext}",
                 f"Body of {ext}", days % 4, created, created, f"h-{ext}", item_type, lang])
            con.execute("INSERT INTO item_themes (source, external_id, theme_id, similarity, "
                        "run_id) VALUES (?, ?, ?, 0.9, ?)", [source, ext, theme_id, RUN_ID])
        con.execute("INSERT INTO runs (run_id, started_at, status) VALUES (?, ?, 'completed')",
                    [RUN_ID, AS_OF])
        compute_trends(con, TrendsConfig(), run_id=RUN_ID, as_of=AS_OF)
        rank_themes(con, RankConfig(), run_id=RUN_ID, as_of=AS_OF)
        con.execute("INSERT INTO jira_issues (theme_id, issue_key, origin, jira_state, "
                    "resolved_at) VALUES (?, ?, 'created', 'done', ?)",
                    [SHIPPED_ID, SHIPPED_KEY, AS_OF - timedelta(days=1)])
    finally:
        con.close()
    return path


@pytest.fixture(scope="session")
def report_warehouse(tmp_path_factory) -> Path:
    return build_warehouse(tmp_path_factory.mktemp("report") / "wh.duckdb")


# The browser tests' page: the report of the warehouse above, open in headless Chromium (one
# tab per test module).
@pytest.fixture(scope="session")
def chromium_binary() -> str:
    binary = find_chromium()
    if binary is None:
        if os.environ.get("FP_SKIP_BROWSER_TESTS") == "1":
            pytest.skip("FP_SKIP_BROWSER_TESTS=1 and no Chromium")
        pytest.fail(f"Chromium is needed for the HTML report tests: {INSTALL_HINT}",
                    pytrace=False)
    return binary


@pytest.fixture(scope="module")
def report_file(report_warehouse, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("report-page") / "report.html"
    with closing(db.connect(report_warehouse, read_only=True)) as con:
        write_report(con, out, jira_server=JIRA_SERVER)
    return out


@pytest.fixture(scope="module")
def page(chromium_binary, report_file, tmp_path_factory) -> Iterator[Page]:
    browser = Chromium(chromium_binary, tmp_path_factory.mktemp("chromium-profile"))
    try:
        tab = browser.new_page()
        tab.open(report_file.as_uri())
        yield tab
        tab.close()
    finally:
        browser.close()


# --- The whole demo, clustered and ranked by the real stages (no Prefect, no delivery), plus one
# planted ticket carrying an e-mail and a phone number: built once per session, ~1 min.
DEMO_FILE = Path(__file__).resolve().parents[2] / "demo" / "feedback_demo.jsonl"
PLANTED_EMAIL, PLANTED_PHONE = "martha.klein@example.org", "+44 20 7946 0958"
PLANTED = {"source": "planted", "kind": "support_ticket", "external_id": "pii-1",
           "url": f"https://support.example.com/tickets/pii-1?email={PLANTED_EMAIL}",
           "author": "cust-pii", "title": "",
           "body": f"My card payment was declined at the supermarket twice today. Please call me "
                   f"on {PLANTED_PHONE} or write to {PLANTED_EMAIL}",
           "created_at": "2026-11-19T10:00:00+00:00"}


def build_demo_warehouse(folder: Path) -> Path:
    """The demo data set (and :data:`PLANTED`) through ingest, clean, embed, cluster and rank."""
    from feedback_pipeline import pipeline
    from feedback_pipeline.config import load_settings
    from feedback_pipeline.warehouse.runs import open_run

    (folder / "planted.jsonl").write_text(json.dumps(PLANTED) + "\n", encoding="utf-8")
    config = folder / "demo.toml"
    config.write_text(f"""warehouse = "{folder / 'wh.duckdb'}"
[[sources]]
name = "demo"
path = "{DEMO_FILE}"
[[sources]]
name = "planted"
path = "{folder / 'planted.jsonl'}"
[rank]
as_of = "latest"
""", encoding="utf-8")
    settings = load_settings(config)
    con = db.connect(settings.warehouse)
    try:
        with open_run(con, as_of=settings.rank.as_of) as run:
            for stage in ("ingest", "clean", "embed"):
                run.stats[stage] = getattr(pipeline, f"stage_{stage}")(run, settings)
            run.stats["cluster"] = pipeline.stage_cluster(run, settings, full=True)
            run.stats["rank"] = {"ranked": len(pipeline.stage_rank(run, settings))}
    finally:
        con.close()
    return settings.warehouse


@pytest.fixture(scope="session")
def demo_warehouse(tmp_path_factory, embedder) -> Path:
    return build_demo_warehouse(tmp_path_factory.mktemp("demo"))
