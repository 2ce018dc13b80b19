"""Customer value in the outputs: the digest's ARR per theme and its segments/plans filter, the
Jira issue's accounts / ARR line (the one builder the dry run and the live sink share), and no
e-mail as an account name anywhere. On the hand-made digest warehouse, re-ranked with accounts."""

from __future__ import annotations

import json

import pytest

from feedback_pipeline.config import DeliverConfig, JiraConfig, RankConfig, SlackConfig
from feedback_pipeline.deliver.dry_run import OutboxFiles
from feedback_pipeline.deliver.jira.evidence import issue_evidence
from feedback_pipeline.deliver.jira.render import jira_issue_fields
from feedback_pipeline.deliver.slack.queries import build_digest
from feedback_pipeline.rank.score import rank_themes
from feedback_pipeline.warehouse.runs import Run

from .digest_warehouse import AS_OF, build

# theme 1's helpdesk tickets come from two accounts, theme 3's from one (an e-mail id)
CUSTOMERS = {("helpdesk", 1): ["acme", "acme", "globex"], ("helpdesk", 3): ["ceo@initech.com"]}
ACCOUNTS = [("acme", "Acme Corp", "enterprise", "enterprise", 250_000.0),
            ("globex", "globex", "pro", "mid-market", 12_000.0),
            ("ceo@initech.com", "acct_5f3a9c0d1e", "enterprise", "enterprise", 90_000.0)]


def with_accounts(con):
    """The digest warehouse's helpdesk tickets given customers and accounts, ranked again."""
    for (source, theme), customers in CUSTOMERS.items():
        ids = [r[0] for r in con.execute(
            "SELECT i.external_id FROM items i JOIN item_themes t USING (source, external_id) "
            "WHERE i.source = ? AND t.theme_id = ? ORDER BY i.external_id", [source, theme]
        ).fetchall()]
        for ext, customer in zip(ids, customers * len(ids), strict=False):
            con.execute("UPDATE items SET customer = ? WHERE source = ? AND external_id = ?",
                        [customer, source, ext])
    con.executemany("INSERT INTO accounts (customer, label, plan, segment, arr, arr_from) "
                    "VALUES (?, ?, ?, ?, ?, 'arr')", [list(a) for a in ACCOUNTS])
    rank_themes(con, RankConfig(), run_id="r1", as_of=AS_OF)
    return con


@pytest.fixture
def con():
    con = with_accounts(build())
    yield con
    con.close()


def theme_text(digest: dict, title: str) -> str:
    """The digest's lines about the theme titled ``title`` ('' when it is not listed)."""
    text = "\n".join(b["text"]["text"] for b in digest["blocks"] if b.get("type") == "section")
    return next((chunk for chunk in text.split("\n*") if title in chunk.split("\n")[0]), "")


def ranking(con):
    from feedback_pipeline.rank.score import latest_ranking

    return latest_ranking(con, run_id="r1")


def test_digest_shows_arr_at_stake_per_theme(con):
    d = build_digest(con, ranking(con), as_of=AS_OF, run_id="r1", config=SlackConfig())
    assert "9 customers · 6 tickets / 3 posts · ARR at stake 262k (2 accounts)" in \
        theme_text(d, "CSV export")
    dark = theme_text(d, "Dark mode")
    assert dark and "ARR at stake" not in dark  # no known account asks: nothing said


def test_digest_segment_filter_keeps_matching_themes_with_recomputed_counts(con):
    config = SlackConfig(segments=["Enterprise"], min_customers=1)
    d = build_digest(con, ranking(con), as_of=AS_OF, run_id="r1", config=config)
    body = json.dumps(d["blocks"])
    assert "CSV export" in body and "Card payment" in body
    assert "Dark mode" not in body and "Search is slow" not in body
    # theme 1 under the filter: acme's tickets only (every other helpdesk ticket is acme's or
    # globex's; globex is mid-market), one account, 250k
    # acme's 4 of the 6 tickets (one author each); the forum posts have no account
    assert "4 reports · 4 customers · 4 tickets / 0 posts · ARR at stake 250k (1 account)" in \
        theme_text(d, "CSV export")
    assert "ARR at stake 90k (1 account)" in theme_text(d, "Card payment")


def test_digest_plan_filter(con):
    config = SlackConfig(plans=["pro"], min_customers=1)
    d = build_digest(con, ranking(con), as_of=AS_OF, run_id="r1", config=config)
    body = json.dumps(d["blocks"])
    assert "CSV export" in body and "Card payment" not in body
    assert "ARR at stake 12k (1 account)" in theme_text(d, "CSV export")


def test_jira_issue_carries_accounts_and_arr_and_top_accounts_in_dry_run_and_live(con, tmp_path):
    theme = next(t for t in ranking(con) if t["theme_id"] == 1)
    evidence = issue_evidence(con, theme, JiraConfig(), as_of=AS_OF)
    description = jira_issue_fields(theme, JiraConfig(), evidence)["description"]
    assert ("*Accounts affected / ARR at stake:* 2 / 262,000 (by segment: enterprise 250,000, "
            "mid-market 12,000) · top accounts: Acme Corp (250,000, enterprise), globex (12,000, "
            "pro)") in description
    assert "value|262000.0 — 262,000 ARR at stake in 2 accounts" in description
    # the dry-run outbox writes what the live sink would send: the same builder, the same text
    config = DeliverConfig(outbox=tmp_path / "outbox", jira=JiraConfig(top_n=10))
    OutboxFiles(config).deliver(Run(con, "r1", AS_OF), ranking(con))
    written = json.loads((tmp_path / "outbox" / "jira" / "theme-1.json").read_text("utf-8"))
    assert written["fields"]["description"] == description


def test_no_email_as_an_account_id_in_any_output(con, tmp_path):
    from feedback_pipeline.report.html import write_report
    from feedback_pipeline.report.terminal import ranking_csv, ranking_json, theme_detail

    config = DeliverConfig(outbox=tmp_path / "outbox", jira=JiraConfig(top_n=10))
    OutboxFiles(config).deliver(Run(con, "r1", AS_OF), ranking(con))
    write_report(con, tmp_path / "report.html")
    texts = [p.read_text("utf-8") for p in (tmp_path / "outbox").rglob("*") if p.is_file()]
    texts += [(tmp_path / "report.html").read_text("utf-8"), ranking_json(ranking(con)),
              ranking_csv(ranking(con)), theme_detail(con, 3)]
    assert any("acct_5f3a9c0d1e" in t for t in texts)  # theme 3's account, by its pseudonym
    for text in texts:
        assert "initech.com" not in text
