"""The digest's rules, checked on the rendered Block Kit JSON of a ranked warehouse: sections in
the order a community manager acts, no theme twice, "nothing shipped" when nothing did, the
sources/kinds filter, header counts equal to counts computed here with SQL, a few quotes per
theme, the report link, and one trend label per theme across Slack, the CLI and the ranking."""

from __future__ import annotations

import json
import re

import pytest
from typer.testing import CliRunner

from feedback_pipeline.cli import app
from feedback_pipeline.config import Settings, SlackConfig
from feedback_pipeline.deliver.slack import SlackDigestSink
from feedback_pipeline.deliver.slack.digest import check_blocks
from feedback_pipeline.deliver.slack.queries import build_digest
from feedback_pipeline.errors import ConfigError
from feedback_pipeline.rank.score import latest_ranking
from feedback_pipeline.rank.trends import trend_phrase
from feedback_pipeline.report.terminal import ranking_markdown
from feedback_pipeline.warehouse.runs import Run

from .digest_warehouse import AS_OF, PREVIOUS, SHIPPED_ID, SHIPPED_KEY, THEMES, build

HEADINGS = {"Threads to answer": "answer", "Rising and new": "rising",
            "Shipped — tell": "shipped", "Nothing shipped": "shipped",
            "Praise to thank": "praise"}
ORDER = ["answer", "rising", "shipped", "praise"]
LINK = re.compile(r"<(https?://[^|>]+)\|")


@pytest.fixture
def con():
    con = build()
    yield con
    con.close()


def _digest(con, **settings) -> dict:
    config = SlackConfig(**{"top_n": 2, **settings})
    return build_digest(con, latest_ranking(con, run_id="r1"), as_of=AS_OF, run_id="r1",
                        config=config)


def _sections(blocks: list[dict]) -> dict[str, str]:
    """Section name -> its text (a section packed into several blocks is joined), in order."""
    out: dict[str, str] = {}
    current = None
    for b in blocks:
        if b["type"] != "section":
            continue
        text = b["text"]["text"]
        current = next((name for marker, name in HEADINGS.items() if marker in
                        text.split("\n", 1)[0]), current)
        assert current is not None, f"a section before any heading: {text[:80]}"
        out[current] = f"{out.get(current, '')}\n{text}"
    return out


def _header(digest: dict) -> str:
    return digest["blocks"][1]["elements"][0]["text"]


def _numbers(header: str) -> dict[str, int]:
    def num(pattern: str) -> int:
        m = re.search(pattern, header)
        assert m, f"{pattern!r} not in {header!r}"
        return int(m.group(1).replace(",", ""))

    return {"themes": num(r"\*([\d,]+)\* themes? holding"),
            "items": num(r"holding \*([\d,]+)\* items?"),
            "new": num(r"\*([\d,]+)\* new items? since the " + PREVIOUS),
            "new_in_themes": num(r"([\d,]+) of them in these themes"),
            "dropped": num(r"\(([\d,]+) more items? dropped by the cleaner")}


def _sql_counts(con, kinds: list[str]) -> dict[str, int]:
    """The same counts, computed here: tonight's run is r1, the themes are r1's ranked ones."""
    kind = "AND list_contains(?, i.kind)" if kinds else "AND ?::VARCHAR[] IS NOT NULL"
    themes = [r[0] for r in con.execute(
        f"SELECT s.theme_id FROM theme_scores s JOIN item_themes t USING (theme_id) "
        f"JOIN items i USING (source, external_id) WHERE s.run_id = 'r1' AND NOT s.needs_review "
        f"AND i.drop_reason IS NULL {kind} GROUP BY s.theme_id "
        f"HAVING count(DISTINCT i.author_hash) >= 3", [kinds]).fetchall()]
    one = lambda sql: con.execute(sql, [kinds, themes]).fetchone()[0]  # noqa: E731
    return {
        "themes": len(themes),
        "items": one(f"SELECT count(*) FROM items i JOIN item_themes t USING (source, external_id)"
                     f" WHERE i.drop_reason IS NULL {kind} AND list_contains(?, t.theme_id)"),
        "new": one(f"SELECT count(*) FROM items i WHERE i.first_seen_run = 'r1' AND "
                   f"i.drop_reason IS NULL {kind} AND ? IS NOT NULL"),
        "new_in_themes": one(f"SELECT count(*) FROM items i JOIN item_themes t USING (source, "
                             f"external_id) WHERE i.first_seen_run = 'r1' AND i.drop_reason IS "
                             f"NULL {kind} AND list_contains(?, t.theme_id)"),
        "dropped": one(f"SELECT count(*) FROM items i WHERE i.first_seen_run = 'r1' AND "
                       f"i.drop_reason IS NOT NULL {kind} AND ? IS NOT NULL"),
    }


def test_sections_in_the_order_a_community_manager_acts_and_no_theme_twice(con):
    d = _digest(con)
    sections = _sections(d["blocks"])
    assert list(sections) == ORDER
    for title in THEMES.values():
        shown_in = [name for name in ("answer", "rising", "shipped") if title in sections[name]]
        assert len(shown_in) <= 1, f"{title} is in {shown_in}"
    ranking = latest_ranking(con, run_id="r1")
    top = [t for t in ranking if t["theme_id"] != SHIPPED_ID][:2]
    assert all(t["title"] in sections["answer"] for t in top)
    assert sections["rising"].count("\n•") >= 1  # the fixture has rising themes below the top
    assert f"{SHIPPED_KEY}" in sections["shipped"] and THEMES[SHIPPED_ID] in sections["shipped"]
    # the threads of the shipped theme (forum questions) are there to tell
    assert "forum.example.com" in sections["shipped"]
    assert "keyword" not in json.dumps(d["blocks"]) and "dark mode for" not in sections["answer"]
    assert check_blocks(d["blocks"]) == [] and check_blocks(d["thread"]["blocks"]) == []
    # Even when every theme fits in the top, the shipped one is only under "shipped".
    everything = _sections(_digest(con, top_n=10)["blocks"])
    assert [n for n in everything if THEMES[SHIPPED_ID] in everything[n]] == ["shipped"]


def test_threads_to_answer_are_community_threads_questions_first(con):
    answer = _sections(_digest(con)["blocks"])["answer"]
    for line in answer.splitlines():
        if line.startswith("Answer:"):
            urls = LINK.findall(line)
            assert urls and all("support.example.com" not in u for u in urls)
    rows = dict(con.execute("SELECT url, item_type FROM items").fetchall())
    theme1 = next((line for line in answer.splitlines() if line.startswith("Answer:")), "")
    types = [rows[u] for u in LINK.findall(theme1)]
    assert types == sorted(types, key=lambda t: t != "question")


def test_nothing_shipped_says_so(con):
    con.execute("DELETE FROM jira_issues")
    sections = _sections(_digest(con)["blocks"])
    assert sections["shipped"].strip() == f":white_check_mark: Nothing shipped since the " \
                                          f"{PREVIOUS} digest."


@pytest.mark.parametrize("kinds", [[], ["community"]], ids=["all", "community"])
def test_header_counts_equal_the_warehouse(con, kinds):
    d = _digest(con, kinds=kinds)
    expected = _sql_counts(con, ["community_post"] if kinds else [])
    assert _numbers(_header(d)) == expected
    assert expected["dropped"] > 0 and expected["new"] > expected["new_in_themes"] - 1


def test_community_filter_leaves_only_community_sources(con):
    d = _digest(con, kinds=["community"], top_n=10)
    shown = json.dumps(d["blocks"]) + json.dumps(d["thread"]["blocks"])
    urls = LINK.findall(shown)
    assert urls and all("forum.example.com" in u or "github.com" in u for u in urls)
    assert "helpdesk" not in shown and "ticket" not in _sections(d["blocks"])["answer"].replace(
        "0 tickets", "")
    for helpdesk_only in (THEMES[3], THEMES[6]):
        assert helpdesk_only not in shown
    assert "only community items" in _header(d)
    # A theme needs min_customers among the items the filter keeps: theme 1 has 3 forum authors.
    assert THEMES[1] in shown
    assert THEMES[1] not in json.dumps(_digest(con, kinds=["community"], min_customers=4))
    github = _digest(con, sources=["github"], top_n=10)
    shown = json.dumps(github["blocks"]) + json.dumps(github["thread"]["blocks"])
    assert all("github.com" in u for u in LINK.findall(shown))
    assert THEMES[2] in shown and THEMES[1] not in shown


@pytest.mark.parametrize("limit", [1, 3])
def test_thread_holds_at_most_the_configured_quotes_per_theme(con, limit):
    d = _digest(con, quotes_per_theme=limit, top_n=6)
    entries = "\n".join(b["text"]["text"] for b in d["thread"]["blocks"] if b["type"] == "section")
    per_theme = [block.count("\n> ") for block in re.split(r"\n(?=\*\d+\. )", "\n" + entries)
                 if block.strip()]
    assert per_theme and max(per_theme) == limit


def test_report_link_only_when_configured(con):
    url = "https://reports.example.com/feedback/latest.html"
    with_link = _digest(con, report_url=url)["blocks"][-1]["elements"]
    assert with_link[0]["text"] == f"<{url}|Open the full report>"
    without = _digest(con)["blocks"][-1]["elements"]
    assert len(without) == 1 and "http" not in without[0]["text"]


def test_community_digest_through_the_slack_emulator(con, slack_emulator, slack_settings):
    url = "https://reports.example.com/latest.html"
    sink = SlackDigestSink(slack_settings(kinds=["community"], report_url=url, top_n=2))
    out = sink.deliver(Run(con, "r1", AS_OF), latest_ranking(con, run_id="r1"))
    main, reply = slack_emulator.channel_messages()
    assert out["slack"] == "posted" and reply["thread_ts"] == main["ts"]
    order = list(_sections(main["blocks"]))
    assert order[0] == "answer" and order == [n for n in ORDER if n in order]
    urls = LINK.findall(json.dumps(main["blocks"]) + json.dumps(reply["blocks"]))
    assert all(u == url or "forum.example.com" in u or "github.com" in u for u in urls)
    assert _numbers(_header({"blocks": main["blocks"]})) == _sql_counts(con, ["community_post"])


def test_one_trend_label_per_theme_in_slack_the_cli_and_the_ranking(tmp_path, slack_emulator,
                                                                   slack_settings):
    path = tmp_path / "wh.duckdb"
    build(path).close()
    runner = CliRunner()
    as_json = runner.invoke(app, ["themes", "--warehouse", str(path), "--format", "json"])
    table = runner.invoke(app, ["themes", "--warehouse", str(path)])
    assert as_json.exit_code == 0 and table.exit_code == 0
    cli = {t["theme_id"]: (t["trend"], t["trend_phrase"]) for t in json.loads(as_json.output)}
    from feedback_pipeline.warehouse import db
    con = db.connect(path)
    try:
        ranking = latest_ranking(con, run_id="r1")
        SlackDigestSink(slack_settings(top_n=2, rising_n=10)).deliver(
            Run(con, "r1", AS_OF), ranking)
    finally:
        con.close()
    slack = json.dumps(slack_emulator.channel_messages()[0]["blocks"], ensure_ascii=False)
    markdown = ranking_markdown(ranking)  # the Prefect artifact of the nightly flow
    in_slack = []
    for theme in ranking:
        phrase = trend_phrase(theme)
        assert cli[theme["theme_id"]] == (theme["trend"], phrase)
        assert f"trend: {phrase}" in table.output
        assert f"% | {phrase} | " in markdown
        show = runner.invoke(app, ["themes", "show", str(theme["theme_id"]), "--warehouse",
                                   str(path)])
        assert f"trend {phrase}\n" in show.output
        # "*1. Title* — phrase" (top) or "• Title (#5, 6 reports) — phrase" (rising)
        title = re.escape(theme["title"])
        shown = re.findall(rf'(\*\d+\. {title}\*|• {title} \(#\d+, [\d,]+ reports?\)) — '
                           r'(.+?)(?:\\n|")', slack)
        assert all(s == phrase for _, s in shown), (theme["title"], shown, phrase)
        in_slack += [where[0] for where, _ in shown]
    assert sorted(in_slack) == ["*", "*", "•"]  # the top 2 and one rising theme below them
    assert {t["trend"] for t in ranking} >= {"rising", "steady"}


def test_unknown_digest_source_names_the_configured_sources():
    github = {"type": "github", "name": "gh", "repos": ["acme/app"]}
    discourse = {"type": "discourse", "name": "forum", "base_url": "https://forum.example.com"}
    with pytest.raises(ValueError, match=r"'discourse'.*configured sources are: gh, forum"):
        Settings.model_validate({"sources": [github, discourse],
                                 "deliver": {"slack": {"sources": ["discourse"]}}})
    ok = Settings.model_validate({"sources": [github, discourse],
                                  "deliver": {"slack": {"sources": ["forum", "gh"]}}})
    assert ok.deliver.slack.sources == ["forum", "gh"]
    with pytest.raises(ValueError, match="kinds"):
        SlackConfig(kinds=["forum"])
    assert SlackConfig(kinds=["community_post"]).item_kinds == ["community_post"]
    with pytest.raises(ValueError, match="report_url"):
        SlackConfig(report_url="javascript:alert(1)")


def test_unknown_digest_source_is_a_config_error_from_the_file(tmp_path):
    from feedback_pipeline.config import load_settings
    path = tmp_path / "fp.toml"
    path.write_text('[[sources]]\ntype = "github"\nname = "gh"\nrepos = ["acme/app"]\n\n'
                    '[deliver.slack]\nsources = ["zendesk"]\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"deliver.slack.sources names 'zendesk'.*: gh"):
        load_settings(path)
