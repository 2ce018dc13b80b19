import json
from datetime import UTC, datetime

import pytest

from feedback_pipeline.config import DeliverConfig, JiraConfig, SlackConfig
from feedback_pipeline.deliver.dry_run import OutboxFiles
from feedback_pipeline.deliver.jira.render import jira_issue_fields, priority_for_rank
from feedback_pipeline.deliver.slack.digest import check_blocks, slack_digest
from feedback_pipeline.warehouse.runs import Run

from .conftest import seed_ranked

AS_OF = datetime(2024, 6, 30, 3, 0, tzinfo=UTC)
TOTALS = {"items": 540, "themes": 12, "new_items": 31}


def quotes_json(*texts: str) -> str:
    return json.dumps([{"source": "forum", "external_id": f"p-{i}", "text": t,
                        "url": f"https://forum.example.com/t/{i}"} for i, t in enumerate(texts)])


def test_jira_fields(make_ranked_theme):
    fields = jira_issue_fields(make_ranked_theme(theme_id=7, rank=2), JiraConfig(project="FB"))

    assert fields["project"] == {"key": "FB"}
    assert fields["issuetype"] == {"name": "Task"}
    assert fields["summary"] == "Customer feedback: CSV export times out on large reports"
    assert fields["labels"] == ["feedback-theme-7", "customer-feedback"]
    assert fields["priority"] == {"name": "High"}


@pytest.mark.parametrize(("rank", "priority"), [(1, "High"), (3, "High"), (4, "Medium"),
                                                (10, "Medium"), (11, "Low")])
def test_priority_follows_rank(rank, priority):
    assert priority_for_rank(rank) == priority


def test_jira_summary_fits_for_a_very_long_title(make_ranked_theme):
    theme = make_ranked_theme(title="Export " + "very " * 200 + "slow")
    assert len(theme["title"]) >= 1_000

    summary = jira_issue_fields(theme, JiraConfig())["summary"]

    assert len(summary) <= 255
    assert summary.startswith("Customer feedback: Export very very")
    assert summary.endswith("…") and "reports" not in summary
    assert "\n" not in summary


def test_jira_summary_redacts_the_title(make_ranked_theme):
    theme = make_ranked_theme(title="Invoices for bob@example.com are wrong")

    assert jira_issue_fields(theme, JiraConfig())["summary"] == (
        "Customer feedback: Invoices for [email] are wrong")


def test_jira_description_has_breakdown_table_and_redacted_quotes(make_ranked_theme):
    theme = make_ranked_theme(quotes=quotes_json(
        "Export fails, write to jane.doe@example.com for the file",
        "Card 4111 1111 1111 1111 was charged but the export never came",
    ))

    description = jira_issue_fields(theme, JiraConfig())["description"]

    lines = description.splitlines()
    header = lines.index("||component||value||normalised||weight||points||")
    table = lines[header + 1: header + 7]
    assert table == [  # sorted by points, highest first
        "|authors|9|1.00|1.5|1.50|",
        "|volume|12|1.00|1.0|1.00|",
        "|recency|1.5|0.80|0.75|0.60|",
        "|growth|2.5|0.50|0.75|0.38|",
        "|votes|30|0.25|0.5|0.12|",
        "|support share|0.25|0.25|0.5|0.12|",
    ]
    assert lines[header + 7] == ""
    assert "Rank *#1*, score *3.73* (12 reports from 9 distinct customers; 3 support tickets, " \
           "9 community posts)." in lines
    assert "jane.doe@example.com" not in description
    assert "4111" not in description
    assert ("{quote}Export fails, write to \\[email\\] for the file{quote} "
            "([source|https://forum.example.com/t/0])") in lines
    assert "{quote}Card \\[card\\] was charged but the export never came{quote} " \
           "([source|https://forum.example.com/t/1])" in lines
    assert "* Last seen: 2024-06-28" in lines
    assert "first seen 2 Apr 2024" in lines[2]
    assert "Votes/likes: 30. Keywords: csv export, timeout, large reports" in lines


def test_jira_quote_without_url_names_its_source(make_ranked_theme):
    description = jira_issue_fields(make_ranked_theme(), JiraConfig())["description"]

    assert "{quote}Our export never finishes.{quote} (desk #t-9)" in description.splitlines()


def test_jira_quote_markup_is_escaped_and_capped(make_ranked_theme):
    theme = make_ranked_theme(quotes=quotes_json("{code}x{code} [link|http://evil] *bold* " +
                                                 "long " * 300))

    description = jira_issue_fields(theme, JiraConfig())["description"]

    [quote_line] = [ln for ln in description.splitlines() if ln.startswith("{quote}\\{code")]
    assert quote_line.startswith("{quote}\\{code\\}x\\{code\\} \\[link\\|http://evil\\] \\*bold\\*")
    text = quote_line[len("{quote}"): quote_line.index("{quote}", 1)]
    assert len(text) <= 500 and text.endswith("…")


def test_jira_description_fits_jira_limit(make_ranked_theme):
    many = quotes_json(*["word " * 200 for _ in range(200)])

    description = jira_issue_fields(make_ranked_theme(quotes=many), JiraConfig())["description"]

    assert len(description) <= 32_000


def section_texts(blocks: list[dict]) -> list[str]:
    return [b["text"]["text"] for b in blocks if b["type"] == "section"]


def assert_within_block_kit_limits(blocks: list[dict]) -> None:
    assert 0 < len(blocks) <= 50
    for b in blocks:
        if b["type"] == "header":
            assert len(b["text"]["text"]) <= 150
        if b["type"] == "section":
            assert len(b["text"]["text"]) <= 3000
        if b["type"] == "context":
            assert len(b["elements"]) <= 10
            assert all(len(e["text"]) <= 3000 for e in b["elements"])
    assert check_blocks(blocks) == []


def test_slack_digest_for_two_hundred_themes_stays_within_limits(make_ranked_theme):
    ranking = [make_ranked_theme(theme_id=i, rank=i + 1, title="Export " + "slow " * 650,
                                 keywords=["k" * 500] * 5,
                                 quotes=quotes_json(*["very long quote " * 200] * 3))
               for i in range(200)]

    digest = slack_digest(ranking, as_of=AS_OF, top_n=200, totals=TOTALS)

    blocks = digest["blocks"]
    assert blocks[0]["type"] == "header"
    assert blocks[0]["text"]["text"] == "Customer feedback digest — 2024-06-30"
    assert_within_block_kit_limits(blocks)
    assert_within_block_kit_limits(digest["thread"]["blocks"])
    texts = section_texts(blocks)
    assert texts[0].startswith("*:speech_balloon: Threads to answer — the top 200 themes*\n"
                               "*1. Export slow slow")
    assert any("more: `feedback-pipeline themes`" in t for t in texts)
    assert len(digest["text"]) <= 3000


def test_slack_digest_redacts_and_escapes(make_ranked_theme):
    ranking = [make_ranked_theme(theme_id=1, rank=1, title="Invoices for bob@example.com <wrong>",
                                 quotes=quotes_json("call me on +44 20 7946 0958 & see")),
               make_ranked_theme(theme_id=2, rank=2, title="Dark mode", growth=0.5, keywords=[]),
               make_ranked_theme(theme_id=3, rank=3, title="Not in the top 2", growth=1.0)]

    digest = slack_digest(ranking, as_of=AS_OF, top_n=2, totals=TOTALS)

    dumped = json.dumps(digest, ensure_ascii=False)
    assert "bob@example.com" not in dumped and "7946" not in dumped
    top = section_texts(digest["blocks"])[0].split("\n")
    assert top[:4] == [
        "*:speech_balloon: Threads to answer — the top 2 themes*",
        "*1. Invoices for [email] &lt;wrong&gt;* — steady",
        "12 reports · 9 customers · 3 tickets / 9 posts",
        "*2. Dark mode* — steady",
    ]  # no keyword line; the trend is the ranking's (trend_phrase)
    assert "Not in the top 2" not in dumped
    thread = section_texts(digest["thread"]["blocks"])
    assert "> call me on [phone] &amp; see — <https://forum.example.com/t/0|forum #p-0>" in \
        thread[0].split("\n")


def test_slack_fallback_text_is_escaped(make_ranked_theme):
    # The fallback is sent as chat.postMessage `text`: an unescaped "<!channel>" would ping.
    digest = slack_digest([make_ranked_theme(title="<!channel> export broken")], as_of=AS_OF,
                          top_n=5, totals=TOTALS)

    assert "<!channel>" not in digest["text"]
    assert "&lt;!channel&gt; export broken" in digest["text"]


def test_slack_digest_with_nothing_ranked():
    digest = slack_digest([], as_of=AS_OF, top_n=10, totals=TOTALS)

    assert [b["type"] for b in digest["blocks"]] == ["header", "context", "section", "section",
                                                     "divider", "context"]
    assert section_texts(digest["blocks"]) == ["No theme has enough distinct customers yet.",
                                               ":white_check_mark: Nothing shipped since the "
                                               "last digest."]
    assert digest["thread"] is None


@pytest.fixture
def deliver_config(tmp_path):
    return DeliverConfig(outbox=tmp_path / "outbox", jira=JiraConfig(top_n=2),
                         slack=SlackConfig(top_n=5))


def deliver_dry_run(con, ranking, config, *, run_id, as_of) -> dict:
    seed_ranked(con, ranking)  # new items, so the digest is not a quiet night's one line
    return OutboxFiles(config).deliver(Run(con, run_id, as_of), ranking)


def test_deliver_dry_run_writes_outbox_and_is_idempotent(warehouse, make_ranked_theme,
                                                         deliver_config):
    ranking = [make_ranked_theme(theme_id=i, rank=r) for r, i in enumerate([7, 3, 9], start=1)]

    first = deliver_dry_run(warehouse, ranking, deliver_config, run_id="r1", as_of=AS_OF)
    second = deliver_dry_run(warehouse, ranking, deliver_config, run_id="r2", as_of=AS_OF)

    outbox = deliver_config.outbox
    assert first == {"jira_issues": 2, "slack_digests": 1, "created": 3, "updated": 0,
                     "unchanged": 0, "retired": 0, "outbox": str(outbox)}
    assert second == {**first, "created": 0, "unchanged": 3}
    assert sorted(p.relative_to(outbox).as_posix() for p in outbox.rglob("*") if p.is_file()) == [
        "jira/theme-3.json", "jira/theme-3.txt", "jira/theme-7.json", "jira/theme-7.txt",
        "slack/digest-2024-06-30.json", "slack/digest-2024-06-30.txt",
    ]
    # What the files hold, written out here rather than re-computed with the renderers that
    # wrote them.
    request = json.loads((outbox / "jira" / "theme-7.json").read_text(encoding="utf-8"))
    fields = request["fields"]
    assert set(request) == {"fields"}
    assert fields["summary"] == "Customer feedback: CSV export times out on large reports"
    assert fields["labels"] == ["feedback-theme-7", "customer-feedback"]
    assert fields["priority"] == {"name": "High"}  # ranked first
    assert fields["project"] == {"key": "FB"} and fields["issuetype"] == {"name": "Task"}
    assert "12 reports from" in fields["description"]
    theme_3 = json.loads((outbox / "jira" / "theme-3.json").read_text(encoding="utf-8"))
    assert theme_3["fields"]["labels"] == ["feedback-theme-3", "customer-feedback"]
    assert (outbox / "jira" / "theme-7.txt").read_text(encoding="utf-8").startswith(
        request["fields"]["summary"] + "\n\n")
    digest = json.loads((outbox / "slack" / "digest-2024-06-30.json").read_text(encoding="utf-8"))
    assert digest["key"] == "slack:digest:2024-06-30"
    blocks = digest["blocks"]
    assert blocks[0]["type"] == "header"
    assert blocks[0]["text"]["text"] == "Customer feedback digest — 2024-06-30"
    top = section_texts(blocks)[0].split("\n")
    assert top[0] == "*:speech_balloon: Threads to answer — the top 3 themes*"
    ranked_lines = [line for line in top if line[:3] in ("*1.", "*2.", "*3.", "*4.")]
    assert [line[:3] for line in ranked_lines] == ["*1.", "*2.", "*3."]
    assert all("CSV export times out on large reports" in line for line in ranked_lines)
    rows = warehouse.execute(
        "SELECT delivery_key, sink, theme_id, run_id, status FROM deliveries ORDER BY 1"
    ).fetchall()
    assert rows == [("jira:theme:3", "jira", 3, "r1", "dry_run"),
                    ("jira:theme:7", "jira", 7, "r1", "dry_run"),
                    ("slack:digest:2024-06-30", "slack", None, "r1", "dry_run")]


def test_deliver_dry_run_updates_a_changed_theme(warehouse, make_ranked_theme, deliver_config):
    deliver_dry_run(warehouse, [make_ranked_theme(theme_id=7)], deliver_config, run_id="r1",
                    as_of=AS_OF)

    changed = deliver_dry_run(warehouse, [make_ranked_theme(theme_id=7, item_count=13)],
                              deliver_config, run_id="r2", as_of=AS_OF)

    assert (changed["created"], changed["updated"], changed["unchanged"]) == (0, 2, 0)
    assert warehouse.execute("SELECT count(*), min(run_id) FROM deliveries").fetchone() == (2, "r2")
    payload = json.loads(warehouse.execute(
        "SELECT payload FROM deliveries WHERE delivery_key = 'jira:theme:7'").fetchone()[0])
    assert "· 13 reports ·" in payload["fields"]["description"]  # the summary stays as it was
    assert payload["fields"]["summary"] == (
        "Customer feedback: CSV export times out on large reports")


def test_files_of_merged_rejected_and_faded_themes_are_retired(warehouse, make_ranked_theme,
                                                               tmp_path):
    config = DeliverConfig(outbox=tmp_path / "outbox", jira=JiraConfig(top_n=5))
    ranking = [make_ranked_theme(theme_id=i, rank=r) for r, i in enumerate([10, 12, 13, 14], 1)]
    deliver_dry_run(warehouse, ranking, config, run_id="r1", as_of=AS_OF)
    for theme_id, status in [(10, "active"), (12, "merged"), (13, "rejected"), (14, "faded")]:
        warehouse.execute("INSERT INTO themes (theme_id, title, status) VALUES (?, 't', ?)",
                          [theme_id, status])

    stats = deliver_dry_run(warehouse, ranking[:1], config, run_id="r2", as_of=AS_OF)

    names = sorted(p.name for p in (config.outbox / "jira").iterdir())
    assert names == ["theme-10.json", "theme-10.txt"] and stats["retired"] == 3
    assert warehouse.execute("SELECT theme_id, status FROM deliveries WHERE sink = 'jira' "
                             "ORDER BY 1").fetchall() == [
        (10, "dry_run"), (12, "retired"), (13, "retired"), (14, "retired")]


def test_outbox_files_are_owner_only(warehouse, make_ranked_theme, deliver_config):
    deliver_dry_run(warehouse, [make_ranked_theme()], deliver_config, run_id="r1", as_of=AS_OF)

    files = [deliver_config.outbox, *deliver_config.outbox.rglob("*")]
    assert files and all(p.stat().st_mode & 0o077 == 0 for p in files)


def test_outbox_files_are_readable_utf8_json_and_jira_files_only_when_asked(
        warehouse, make_ranked_theme, deliver_config):
    ranking = [make_ranked_theme(theme_id=4, rank=1, title="Export ne marche pas — café")]
    seed_ranked(warehouse, ranking)

    OutboxFiles(deliver_config, jira=False).deliver(Run(warehouse, "r1", AS_OF), ranking)

    outbox = deliver_config.outbox
    assert not (outbox / "jira").exists() or not any((outbox / "jira").iterdir())
    digest = (outbox / "slack" / "digest-2024-06-30.json").read_text(encoding="utf-8")
    assert "café" in digest and "\\u00e9" not in digest  # characters, not escapes
    assert digest.startswith('{\n  "')  # indented for people reading the outbox
    OutboxFiles(deliver_config).deliver(Run(warehouse, "r2", AS_OF), ranking)
    assert [p.name for p in (outbox / "jira").iterdir()] and all(
        not p.name.endswith(".tmp") for p in outbox.rglob("*"))


def test_dry_run_digest_announces_a_shipped_theme_once_with_its_jira_link(
        warehouse, make_ranked_theme, tmp_path):
    from datetime import timedelta

    from feedback_pipeline.deliver.slack.queries import mark_shipped

    config = DeliverConfig(outbox=tmp_path / "outbox",
                           jira=JiraConfig(top_n=0, server="https://jira.example.com"),
                           slack=SlackConfig(top_n=5))
    ranking = [make_ranked_theme(theme_id=i, rank=r, title=f"Theme {i}")
               for r, i in enumerate([7, 3, 9], start=1)]
    mark_shipped(warehouse, 9, AS_OF - timedelta(days=1), jira_key="FB-9")

    deliver_dry_run(warehouse, ranking, config, run_id="r1", as_of=AS_OF)
    day1 = json.loads((config.outbox / "slack" / "digest-2024-06-30.json").read_text("utf-8"))
    next_day = AS_OF + timedelta(days=1)
    deliver_dry_run(warehouse, ranking, config, run_id="r2", as_of=next_day)
    day2 = json.loads((config.outbox / "slack" / "digest-2024-07-01.json").read_text("utf-8"))

    shipped1 = [t for t in section_texts(day1["blocks"]) if "Shipped" in t]
    assert len(shipped1) == 1 and "*theme 9*" in shipped1[0]  # no themes row: named by its id
    assert "<https://jira.example.com/browse/FB-9|FB-9>" in shipped1[0]
    assert warehouse.execute("SELECT announced_in FROM slack_shipped WHERE theme_id = 9"
                             ).fetchone() == ("slack:digest:2024-06-30",)
    texts2 = section_texts(day2["blocks"])
    assert not any("theme 9" in t for t in texts2)
    assert any("Nothing shipped" in t for t in texts2)
