"""tools/screenshots.py and its renderers (tools/jira_wiki.py, tools/slack_blocks.py): the README's
before/after pictures show what the payloads say, so the renderers are checked on every construct
the Jira and Slack outputs use, on hostile text, and end to end in Chromium."""

from __future__ import annotations

import importlib.util
import json
import re
import struct
import sys
from contextlib import closing
from pathlib import Path

import pytest

from feedback_pipeline.rank.score import latest_ranking
from feedback_pipeline.warehouse import db

TOOLS = Path(__file__).resolve().parents[2] / "tools"


def _tool(name: str):
    if str(TOOLS) not in sys.path:
        sys.path.insert(0, str(TOOLS))
    spec = importlib.util.spec_from_file_location(f"fp_tool_{name}", TOOLS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


jira_wiki = _tool("jira_wiki")
slack_blocks = _tool("slack_blocks")

ISSUE = """{anchor:feedback-pipeline-evidence}
h2. What customers ask
*Exchange rates*: 38 customers; _new since 6 Nov_; see [all items|https://example.com/q?a=1&b=2].
* first point with {{code}}
** nested -struck- point
# numbered
{quote}what is the exchange rate?{quote} ([helpdesk #1470|https://support.example.com/1470])
bq. a quoted line
||week of||reports||
|2026-11-02|3|
|[FB-7|https://jira.example.com/browse/FB-7]|*1*|
{panel:title=Related themes}
* FB-12 Wrong exchange rate
{panel}
{expand:Score breakdown}
||component||points||
|authors|1.34|
{expand}
{code}
x = {"a": 1}
{code}
----
_Maintained by feedback-pipeline (theme 9)._"""


def test_jira_wiki_renders_the_constructs_our_issues_use():
    out = jira_wiki.render(ISSUE)

    assert out.startswith('<p><a id="feedback-pipeline-evidence"></a></p>')
    assert "<h2>What customers ask</h2>" in out
    assert "<strong>Exchange rates</strong>" in out and "<em>new since 6 Nov</em>" in out
    assert '<a href="https://example.com/q?a=1&amp;b=2">all items</a>' in out
    assert "<ul><li>\nfirst point with <code>code</code>" in out
    assert "<ul><li>\nnested <del>struck</del> point" in out
    assert "<ol><li>\nnumbered" in out
    assert "<blockquote><p>what is the exchange rate?</p></blockquote>" in out
    assert '(<a href="https://support.example.com/1470">helpdesk #1470</a>)' in out
    assert "<blockquote><p>a quoted line</p></blockquote>" in out
    assert ("<tr><th>week of</th><th>reports</th></tr><tr><td>2026-11-02</td><td>3</td></tr>"
            '<tr><td><a href="https://jira.example.com/browse/FB-7">FB-7</a></td>'
            "<td><strong>1</strong></td></tr>") in out
    assert re.search(r'<div class="panel"><div class="panel-title">Related themes</div>'
                     r'<div class="panel-body"><ul><li>\s*FB-12 Wrong exchange rate', out)
    # {expand} is collapsed, as Jira shows it
    assert re.search(r'<details class="expand"><summary>Score breakdown</summary>'
                     r'<table class="wiki"><tr><th>component</th>', out)
    assert '<pre class="code">x = {&quot;a&quot;: 1}</pre>' in out
    assert "<hr>" in out and "<em>Maintained by feedback-pipeline (theme 9).</em>" in out
    assert "{" not in re.sub(r"<pre.*?</pre>", "", out, flags=re.S)  # every macro understood


def test_jira_wiki_keeps_hostile_text_as_text():
    out = jira_wiki.render("<script>alert(1)</script> [click|javascript:alert(1)] *b*")

    assert "<script>" not in out and "&lt;script&gt;alert(1)&lt;/script&gt;" in out
    assert "href" not in out and "[click|javascript:alert(1)]" in out
    assert jira_wiki.render("{quote}never closed") == "<p>{quote}never closed</p>"
    assert jira_wiki.inline("2026-11-02 - 2026-11-09 and snake_case_name") == \
        "2026-11-02 - 2026-11-09 and snake_case_name"


DIGEST = {
    "text": "fallback",
    "blocks": [
        {"type": "header", "text": {"type": "plain_text", "text": "Digest — 2026-11-20"}},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": "*1,448* items · <https://"
                                          "example.com/report.html|open the report>"}]},
        {"type": "section", "text": {"type": "mrkdwn", "text":
            ":trophy: *Top themes*\n*1. Exchange rates* _rising: 16 in the last 7 days_\n"
            "> what is the rate? — <https://support.example.com/1470|helpdesk #1470>\n"
            "~old~ `code` &lt;b&gt; &amp; :no_such_emoji:"}},
        {"type": "divider"},
        {"type": "section", "fields": [{"type": "mrkdwn", "text": "*a*"},
                                       {"type": "plain_text", "text": "b"}]},
        {"type": "video", "title": {"type": "plain_text", "text": "a demo"}},
    ],
}


def test_slack_blocks_render_a_digest():
    out = slack_blocks.message(DIGEST)

    assert '<div class="b-header">Digest — 2026-11-20</div>' in out
    assert ('<div class="b-context"><span><b>1,448</b> items · <a href="https://example.com/'
            'report.html">open the report</a></span></div>') in out
    assert "🏆 <b>Top themes</b><br><b>1. Exchange rates</b> <i>rising: 16 in the last 7 days</i>" \
        in out
    assert ('<blockquote>what is the rate? — <a href="https://support.example.com/1470">'
            "helpdesk #1470</a></blockquote>") in out
    assert "<s>old</s> <code>code</code> &lt;b&gt; &amp; :no_such_emoji:" in out
    assert '<hr class="b-divider">' in out
    assert '<div class="b-fields"><div><b>a</b></div><div>b</div></div>' in out
    assert '<div class="unknown">[video block] ' in out  # shown, never dropped
    assert slack_blocks.message({"text": "*only* text"}) == \
        '<div class="b-section"><b>only</b> text</div>'
    assert "href" not in slack_blocks.mrkdwn("<javascript:alert(1)|x>")


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


def test_screenshots_of_a_run(chromium_binary, report_warehouse, tmp_path):
    with closing(db.connect(report_warehouse, read_only=True)) as con:
        top = latest_ranking(con)[0]
    outbox = tmp_path / "outbox"
    (outbox / "jira").mkdir(parents=True)
    (outbox / "slack").mkdir()
    issue = {"fields": {"project": {"key": "FB"}, "issuetype": {"name": "Bug"},
                        "summary": "Customers ask: CSV export", "description": ISSUE,
                        "priority": {"name": "High"}, "labels": ["customer-feedback"]}}
    (outbox / "jira" / f"theme-{top['theme_id']}.json").write_text(json.dumps(issue))
    for day in ("2026-11-19", "2026-11-20"):
        (outbox / "slack" / f"digest-{day}.json").write_text(json.dumps(
            {**DIGEST, "date": day, "thread": {"blocks": DIGEST["blocks"][2:3]}}))
    config = tmp_path / "run.toml"
    config.write_text(f'warehouse = "{report_warehouse}"\n[deliver]\ndry_run = true\n'
                      'outbox = "outbox"\n')

    screenshots = _tool("screenshots")
    assert screenshots.main(["--label", "test", "--config", str(config),
                             "--out", str(tmp_path / "shots")]) == 0

    sizes = {p.name: _png_size(p) for p in (tmp_path / "shots").iterdir()}
    assert set(sizes) == {"report-test.png", "jira-test.png", "digest-test.png"}
    assert sizes["report-test.png"] == (1280, 900)
    assert all(w == 1280 and 400 < h <= 2400 for w, h in sizes.values())
    jira = screenshots.jira_page(issue, theme_id=top["theme_id"], rank=1, source=Path("x.json"))
    assert "<h1>Customers ask: CSV export</h1>" in jira
    assert "<dt>Type</dt><dd>Bug</dd><dt>Priority</dt><dd>High</dd>" in jira
    digest = screenshots.digest_page(json.loads((outbox / "slack" / "digest-2026-11-20.json")
                                                .read_text()), channel="community")
    assert '<div class="replies">1 reply</div>' in digest and "2026-11-20" in digest


def test_screenshots_say_what_is_missing(tmp_path):
    config = tmp_path / "run.toml"
    config.write_text('warehouse = "none.duckdb"\n')
    with pytest.raises(SystemExit, match="no warehouse at .*none.duckdb: run `make demo`"):
        _tool("screenshots").main(["--label", "after", "--config", str(config)])
