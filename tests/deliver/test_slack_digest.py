"""The digest's content and structure, checked against Slack's Block Kit limits."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from emulators.slack import validate_blocks

from feedback_pipeline.config import SlackConfig
from feedback_pipeline.deliver.slack.digest import (
    DigestContext,
    block_chars,
    check_blocks,
    digest_preview,
    slack_digest,
)
from feedback_pipeline.deliver.slack.queries import build_digest, mark_shipped

AS_OF = datetime(2026, 11, 20, 18, 0, tzinfo=UTC)
TOTALS = {"items": 1451, "themes": 12, "new_items": 40}


def _all_text(digest: dict) -> str:
    return json.dumps(digest["blocks"]) + json.dumps((digest["thread"] or {}).get("blocks", []))


def _assert_within_limits(message: dict) -> None:
    assert check_blocks(message["blocks"]) == []
    assert validate_blocks(message["blocks"], max_block_chars=12_000) is None
    assert len(message["text"]) <= 3_000


def test_digest_sections_and_header(make_ranked_theme):
    ranking = [make_ranked_theme(theme_id=i, rank=i, title=f"Theme number {i}")
               for i in range(1, 5)]
    ranking[0].update(trend="rising", trend_recent=7, trend_baseline=1.0, trend_days=7)
    ranking[2].update(trend="rising", trend_recent=18, trend_baseline=0.0, trend_days=7)
    ctx = DigestContext(
        new_theme_ids=[2], jira={1: ("FB-12", "https://jira.example.com/browse/FB-12")},
        previous_date="2026-11-19",
        threads={1: [{"url": "https://forum.example.com/t/7", "title": "How do I export?"}]},
        shipped=[{"theme_id": 9, "title": "Dark mode", "jira_key": "FB-3",
                  "jira_url": "https://jira.example.com/browse/FB-3",
                  "threads": [{"url": "https://forum.example.com/t/42",
                               "title": "Dark mode please"}]}],
        praise=[{"theme_id": 1, "source": "forum", "external_id": "p-9",
                 "url": "https://forum.example.com/t/9", "text": "Love the new export!"}])
    config = SlackConfig(top_n=1, report_url="https://reports.example.com/latest.html")
    d = slack_digest(ranking, as_of=AS_OF, totals=TOTALS, config=config, context=ctx)
    assert d["key"] == "slack:digest:2026-11-20" and d["quiet"] is False
    header = d["blocks"][0]
    assert header["type"] == "header" and "2026-11-20" in header["text"]["text"]
    counts = d["blocks"][1]["elements"][0]["text"]
    assert counts.startswith("*12* themes holding *1,451* items · *40* new items since the "
                             "2026-11-19 digest · 1 new theme")
    sections = [b["text"]["text"] for b in d["blocks"] if b["type"] == "section"]
    answer, rising, shipped, praise = sections
    assert answer.startswith("*:speech_balloon: Threads to answer — the top 1 themes*")
    assert "*1. Theme number 1* — rising: 7 in the last 7 days, usually about 1" in answer
    assert "9 customers" in answer and "12 reports" in answer
    assert "<https://jira.example.com/browse/FB-12|FB-12>" in answer
    assert "Answer: <https://forum.example.com/t/7|How do I export?>" in answer
    assert "csv export" not in json.dumps(d["blocks"])  # no keyword lines
    # Rising: theme 3 (rising) and theme 2 (new since the last digest), never theme 1 again;
    # counts, never a ratio over an empty baseline.
    assert rising.startswith("*:chart_with_upwards_trend: Rising and new*")
    assert "Theme number 3 (#3, 12 reports) — rising: 18 in the last 7 days, usually none" \
        in rising
    assert "Theme number 2 (#2" in rising and "Theme number 1" not in rising
    assert "Theme number 4" not in rising and "x19" not in rising
    assert "<https://forum.example.com/t/42|Dark mode please>" in shipped
    assert "<https://jira.example.com/browse/FB-3|FB-3> is Done" in shipped
    assert praise.startswith("*:raised_hands: Praise to thank*")
    assert "Love the new export!" in praise and "forum.example.com/t/9" in praise
    footer = d["blocks"][-1]["elements"]
    assert footer[0]["text"] == "<https://reports.example.com/latest.html|Open the full report>"
    assert "Ranked by volume" in footer[1]["text"]
    # quotes only in the thread reply, for the themes shown (top and rising)
    assert "Export to CSV times out" not in json.dumps(d["blocks"])
    thread = json.dumps(d["thread"]["blocks"])
    assert "Export to CSV times out" in thread and "Theme number 4" not in thread
    _assert_within_limits(d)
    _assert_within_limits(d["thread"])


def test_no_report_link_without_report_url(make_ranked_theme):
    d = slack_digest([make_ranked_theme()], as_of=AS_OF, totals=TOTALS, config=SlackConfig())
    assert "report" not in json.dumps(d["blocks"][-1]).lower().replace("support", "")
    assert [b["type"] for b in d["blocks"][-2:]] == ["divider", "context"]
    assert len(d["blocks"][-1]["elements"]) == 1


def test_nothing_shipped_says_so(make_ranked_theme):
    d = slack_digest([make_ranked_theme()], as_of=AS_OF, totals=TOTALS,
                     context=DigestContext(previous_date="2026-11-19"))
    assert ":white_check_mark: Nothing shipped since the 2026-11-19 digest." in \
        json.dumps(d["blocks"], ensure_ascii=False)


def test_condensed_false_adds_the_score_breakdown(make_ranked_theme):
    d = slack_digest([make_ranked_theme()], as_of=AS_OF, totals=TOTALS,
                     config=SlackConfig(condensed=False))
    assert "score 3.73 = authors 1.50 + volume 1.00" in json.dumps(d["blocks"])


@pytest.mark.parametrize(("n_themes", "title_len"), [(200, 3_000), (60, 140), (1, 3_000)],
                         ids=["200-themes-3000-char-titles", "60-themes", "one-huge-title"])
def test_limits_hold_for_huge_rankings(make_ranked_theme, n_themes, title_len):
    long_quote = [{"source": "forum", "external_id": str(i), "text": "q" * 5_000,
                   "url": f"https://forum.example.com/t/{i}"} for i in range(10)]
    ranking = [make_ranked_theme(theme_id=i, rank=i, title=("T" * title_len),
                                 keywords=["k" * 500] * 8, quotes=json.dumps(long_quote))
               for i in range(1, n_themes + 1)]
    ctx = DigestContext(new_theme_ids=list(range(1, n_themes + 1)), shipped=[
        {"theme_id": 1_000 + i, "title": "S" * 3_000, "jira_key": f"FB-{i}", "jira_url": None,
         "threads": [{"url": f"https://forum.example.com/t/{j}", "title": "x" * 500}
                     for j in range(30)]} for i in range(20)])
    config = SlackConfig(top_n=n_themes, new_n=50, rising_n=50, shipped_n=20, threads_per_theme=30,
                         quotes_per_theme=10, praise_n=50)
    ctx.threads = {i: [{"url": f"https://forum.example.com/t/{j}", "title": "y" * 500}
                       for j in range(30)] for i in range(1, n_themes + 1)}
    ctx.praise = [{"theme_id": 1, "source": "forum", "external_id": str(j), "text": "p" * 5_000,
                   "url": f"https://forum.example.com/t/{j}"} for j in range(50)]
    d = slack_digest(ranking, as_of=AS_OF, totals=TOTALS, config=config, context=ctx)
    _assert_within_limits(d)
    _assert_within_limits(d["thread"])
    assert sum(block_chars(b) for b in d["blocks"]) <= 12_000
    if n_themes > 10:
        assert "more" in _all_text(d)  # clipped cleanly, saying so


def test_titles_and_quotes_are_redacted_and_escaped(make_ranked_theme):
    quotes = [{"source": "forum", "external_id": "1", "url": "https://forum.example.com/t/1",
               "text": "mail me at jane.doe@example.com or +44 20 7946 0958, card "
                       "4111 1111 1111 1111, token xoxb-1234567890-abcdefghij, ask @janedoe"}]
    theme = make_ranked_theme(title="Export <broken> for bob@example.com",
                              quotes=json.dumps(quotes))
    d = slack_digest([theme], as_of=AS_OF, totals=TOTALS, config=SlackConfig())
    text = _all_text(d) + d["text"]
    for secret in ("jane.doe@example.com", "7946 0958", "4111 1111", "xoxb-1234567890",
                   "@janedoe", "bob@example.com"):
        assert secret not in text
    assert "[email]" in text and "[phone]" in text and "[card]" in text and "[secret]" in text
    assert "@[user]" in text and "&lt;broken&gt;" in text


def test_threads_and_praise_are_redacted_and_escaped(make_ranked_theme):
    ctx = DigestContext(
        threads={7: [{"url": "https://forum.example.com/t/1?email=jane@example.com",
                      "title": "Help <b>now</b>, mail jane@example.com"}]},
        praise=[{"theme_id": 7, "source": "forum", "external_id": "p1",
                 "url": "https://forum.example.com/t/2",
                 "text": "Thanks! Call me +44 20 7946 0958 & <!here>"}])
    d = slack_digest([make_ranked_theme()], as_of=AS_OF, totals=TOTALS, context=ctx)
    text = json.dumps(d["blocks"])
    assert "jane@example.com" not in text and "7946 0958" not in text and "<!here>" not in text
    assert "Help &lt;b&gt;now&lt;/b&gt;, mail [email]" in text
    assert "[phone] &amp; &lt;!here&gt;" in text
    assert "https://forum.example.com/t/1|" in text  # the link kept, its personal query dropped


def test_link_with_a_token_in_the_url_is_not_linked(make_ranked_theme):
    quotes = [{"source": "forum", "external_id": "1", "text": "hi",
               "url": "https://forum.example.com/t/1?token=abc123secret"}]
    d = slack_digest([make_ranked_theme(quotes=json.dumps(quotes))], as_of=AS_OF, totals=TOTALS)
    assert "abc123secret" not in _all_text(d)


def test_quiet_night_is_one_line():
    d = slack_digest([], as_of=AS_OF, totals={"items": 10, "themes": 2, "new_items": 0},
                     context=DigestContext(previous_date="2026-11-19"))
    assert d["quiet"] is True and d["thread"] is None
    assert len(d["blocks"]) == 1 and "\n" not in d["text"]
    assert "nothing new since the 2026-11-19 digest" in d["text"]


def test_empty_ranking_with_new_items_is_not_quiet():
    d = slack_digest([], as_of=AS_OF, totals={"items": 5, "themes": 0, "new_items": 5})
    assert d["quiet"] is False and "enough distinct customers" in json.dumps(d["blocks"])
    _assert_within_limits(d)


def test_build_digest_reads_jira_links_and_shipped_threads(warehouse, make_ranked_theme):
    con = warehouse
    con.execute("INSERT INTO themes (theme_id, title, status) VALUES (7, 'CSV export', 'active')")
    for i, (kind, url, votes) in enumerate([("community_post", "https://forum.example.com/t/1", 5),
                                            ("community_post", "https://forum.example.com/t/2", 9),
                                            ("support_ticket", "https://desk.example.com/9", 50)]):
        con.execute("INSERT INTO items (source, external_id, kind, url, title, votes, created_at, "
                    "updated_at, content_hash) VALUES ('s', ?, ?, ?, ?, ?, now(), now(), 'h')",
                    [str(i), kind, url, f"thread {i}", votes])
        con.execute("INSERT INTO item_themes (source, external_id, theme_id) VALUES ('s', ?, 7)",
                    [str(i)])
    con.execute("INSERT INTO deliveries (delivery_key, sink, theme_id, payload, payload_hash, "
                "status, external_ref) "
                "VALUES ('jira:theme:7', 'jira', 7, '{}', 'x', 'sent', 'FB-24')")
    mark_shipped(con, 7, datetime(2026, 11, 19, tzinfo=UTC))
    config = SlackConfig()
    d = build_digest(con, [make_ranked_theme(theme_id=7)], as_of=AS_OF, run_id="r",
                     config=config, jira_server="https://jira.example.com/")
    body = json.dumps(d["blocks"])
    assert "<https://jira.example.com/browse/FB-24|FB-24>" in body
    shipped = body[body.index("Shipped"):]
    # community threads only, most voted first; the support ticket is not a thread to answer
    assert shipped.index("forum.example.com/t/2") < shipped.index("forum.example.com/t/1")
    assert "desk.example.com" not in shipped
    assert d["shipped_theme_ids"] == [7]


def test_preview_is_plain_text(make_ranked_theme):
    d = slack_digest([make_ranked_theme()], as_of=AS_OF, totals=TOTALS)
    text = digest_preview(d)
    assert text.startswith("Customer feedback digest — 2026-11-20\n")
    assert "[thread reply]" in text and "Export to CSV times out." in text
    assert "<http" not in text and "(https://forum.example.com/t/1)" in text
