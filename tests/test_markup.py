"""Every output format, fed hostile fields: arbitrary unicode mixed with the format's own
special fragments (and every other format's). What comes out carries no mention, broadcast,
link, macro, image, block delimiter, tag or formula that the code did not write itself, and
its blocks stay balanced."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import UTC, date, datetime
from html.parser import HTMLParser

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from feedback_pipeline.deliver.jira.config import JiraConfig
from feedback_pipeline.deliver.jira.render import jira_issue_fields, safe_url
from feedback_pipeline.deliver.slack.digest import slack_digest
from feedback_pipeline.markup import (
    clean,
    csv_cell,
    csv_rows,
    html_text,
    jira_text,
    json_text,
    markdown_text,
    slack_text,
)
from feedback_pipeline.redact import safe_link_url
from feedback_pipeline.report.html import ReportData, render_report
from feedback_pipeline.report.terminal import ranking_csv, ranking_json

FRAGMENTS = [
    # Slack mrkdwn
    "<!here>", "<!channel>", "<@U1>", "<#C1|general>", "<http://x|y>", "&", "&amp;", "&lt;", ">",
    # Jira wiki markup
    "[~accountid:x]", "{quote}", "{code}", "{noformat}", "!img!", "!//evil.example/x.png!",
    "[link|http://x]", "\\", "C:\\", "{", "}", "[", "]", "|", "*", "_", "h1. ", "----", "# ",
    "bq. ",
    # HTML
    "<script>", "</script>", "<img src=x onerror=alert(1)>", '"', "'", "<!--", "javascript:",
    # CSV
    "=", "+", "-", "@", "\t", "\r", '=HYPERLINK("//evil.example","Invoice")', ",", "\n",
    # JSON / JS
    "\u2028", "\u2029", "\x00",
]
hostile = st.lists(st.one_of(st.text(max_size=12), st.sampled_from(FRAGMENTS)),
                   max_size=8).map("".join)
urls = st.one_of(st.none(), st.sampled_from([
    "https://forum.example.com/t/1", "javascript:alert(1)", "https://x.example/a|b>c",
    "https://x.example/!img!", "https://x.example/a?token=s3cr3t99", "http://x|y"]), hostile)
quote = st.fixed_dictionaries({"source": hostile, "external_id": hostile, "text": hostile,
                               "url": urls})
fields = st.fixed_dictionaries({"title": hostile, "keywords": st.lists(hostile, max_size=4),
                                "quotes": st.lists(quote, min_size=1, max_size=3)})
SETTINGS = settings(max_examples=60, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])
KNOWN_HOLES = {  # the inputs of issue #19
    "title": "<!here> =HYPERLINK(\"//evil.example\",\"Invoice\")",
    "keywords": ["[~accountid:557058]", "{quote}"],
    "quotes": [{"source": "<!here>", "external_id": "[~accountid:557058] {quote}", "url": None,
                "text": "my files are in C:\\"},
               {"source": "forum", "external_id": "!//evil.example/x.png!", "url": None,
                "text": "{quote}x{quote} \\"}],
}


def _theme(make_ranked_theme, f: dict) -> dict:
    return make_ranked_theme(title=f["title"], keywords=f["keywords"],
                             quotes=json.dumps(f["quotes"]))


# Jira: outside our own constructs, only text and escaped markup characters.
_ESCAPED_TEXT = r"(?:[^\\{}\[\]|!*_]|\\[{}\[\]|!*_])*"
_QUOTE_LINE = re.compile(
    rf"\{{quote\}}{_ESCAPED_TEXT}\{{quote\}}"
    rf"(?: \(\[source\|https?://[^\s|\[\]{{}}\\!]+\]\)| \({_ESCAPED_TEXT} #{_ESCAPED_TEXT}\))")


@SETTINGS
@given(f=fields)
@example(f=KNOWN_HOLES)
@example(f={"title": "", "keywords": [], "quotes": [{"source": "", "external_id": "", "text": "",
                                                    "url": None}]})
def test_jira_wiki_markup_has_only_our_markup(make_ranked_theme, f):
    description = jira_issue_fields(_theme(make_ranked_theme, f), JiraConfig())["description"]
    lines = description.split("\n")

    quote_lines = [ln for ln in lines if ln.startswith("{quote}")]
    # At most three shown; one that repeats an earlier one's opening words is skipped.
    assert (1 if f["quotes"] else 0) <= len(quote_lines) <= min(len(f["quotes"]), 3)
    for line in quote_lines:
        assert _QUOTE_LINE.fullmatch(line), line
    [keywords] = [ln.split(". Keywords: ", 1)[1] for ln in lines
                  if ln.startswith("Votes/likes: ")]
    assert keywords == "_none_" or re.fullmatch(_ESCAPED_TEXT, keywords), keywords
    title = lines[1][len("*What customers ask:* "):]
    assert title == "_untitled_" or re.fullmatch(_ESCAPED_TEXT, title), title
    assert not re.search(r"(?<!\\)\[~", description)
    assert description.count("{quote}") % 2 == 0
    # Every backslash escapes one markup character: none is left to eat our closing {quote}.
    assert re.fullmatch(r"(?:[^\\]|\\[{}\[\]|!*_#\-hb])*", description)


@given(text=hostile, limit=st.integers(1, 40))
@example(text="\\" * 30, limit=7)
def test_jira_cut_never_leaves_half_an_escape(text, limit):
    out = jira_text(text, limit)
    assert len(out) <= limit
    assert re.fullmatch(rf"{_ESCAPED_TEXT}…?", out)


# Slack: the only <...> are links to the URLs we passed through safe_link_url.
_ENTITY_OK = re.compile(r"&(?!amp;|lt;|gt;)")


def _mrkdwn(digest: dict) -> list[str]:
    texts = [digest["text"]]
    for message in (digest, digest.get("thread") or {}):
        for block in message.get("blocks", []):
            if isinstance(block.get("text"), dict):
                texts.append(block["text"]["text"])
            texts += [e.get("text", "") for e in block.get("elements", [])]
    return texts


@SETTINGS
@given(f=fields)
@example(f=KNOWN_HOLES)
def test_slack_mrkdwn_has_no_mention_broadcast_or_foreign_link(make_ranked_theme, f):
    digest = slack_digest([_theme(make_ranked_theme, f)], as_of=datetime(2024, 7, 1, tzinfo=UTC),
                          totals={"items": 12, "themes": 1, "new_items": 3})
    allowed = {safe_link_url(q["url"]) for q in f["quotes"]} - {None}

    for text in _mrkdwn(digest):
        assert not _ENTITY_OK.search(text), text
        for construct in re.findall(r"<[^>]*>?", text):
            m = re.fullmatch(r"<(https?://[^|>\s]+)\|[^<>|]*>", construct)
            assert m, construct
            assert m.group(1).replace("%7C", "|").replace("%3E", ">") in allowed


@given(text=hostile, limit=st.integers(1, 40))
def test_slack_cut_never_leaves_half_an_entity(text, limit):
    out = slack_text(text, limit)
    assert len(out) <= limit and "<" not in out and ">" not in out
    assert not _ENTITY_OK.search(out)


# HTML: the tags and attributes of the page are those of our template, links only safe ones.
class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: set[str] = set()
        self.attrs: set[str] = set()
        self.hrefs: list[str] = []
        self.scripts = 0

    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)
        self.scripts += tag == "script"
        for name, value in attrs:
            self.attrs.add(name)
            if name == "href":
                self.hrefs.append(value)


def _page(theme: dict, quotes: list[dict], source: str) -> _Tags:
    data = ReportData(generated_at=datetime(2024, 7, 1, tzinfo=UTC), run_id="run-1",
                      ranked_total=1, themes=[theme],
                      rows=[(theme["theme_id"], date(2024, 6, 30), source, "request", 3)],
                      quotes={theme["theme_id"]: [{**q, "item_type": "request"} for q in quotes]},
                      languages={theme["theme_id"]: {"en": 3}},
                      types={theme["theme_id"]: {"request": 3}})
    parser = _Tags()
    parser.feed(render_report(data))
    return parser


@SETTINGS
@given(f=fields)
@example(f=KNOWN_HOLES)
def test_html_report_has_only_our_tags_attributes_and_links(make_ranked_theme, f):
    theme = {**_theme(make_ranked_theme, f), "trend": "rising"}
    benign = _page({**theme, "title": "t", "keywords": ["k"]},
                   [{"source": "s", "external_id": "1", "text": "x", "url": None}], "s")
    page = _page(theme, f["quotes"], f["quotes"][0]["source"])

    assert page.tags <= benign.tags | {"a"} and page.scripts == benign.scripts
    assert page.attrs <= benign.attrs | {"href", "rel", "target"}
    allowed = {safe_url(q["url"]) for q in f["quotes"]} - {None}
    for href in page.hrefs:
        assert href.startswith("#theme-") or href in allowed, href


# CSV: no cell a spreadsheet would evaluate.
def _cells(text: str) -> list[str]:
    return [cell for row in csv.reader(io.StringIO(text, newline="")) for cell in row]


def _no_formula(cells: list[str]) -> None:
    for cell in cells:
        assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")) \
            or re.fullmatch(r"[+-]?\d+(\.\d*)?", cell), cell


@SETTINGS
@given(f=fields)
@example(f=KNOWN_HOLES)
def test_themes_csv_has_no_formula(make_ranked_theme, f):
    _no_formula(_cells(ranking_csv([_theme(make_ranked_theme, f)])))


@given(rows=st.lists(st.lists(st.one_of(hostile, st.integers(-5, 5)), min_size=1, max_size=4),
                     max_size=5))
@example(rows=[["=1+1", -1, "-2", "@SUM(A1)", "\tx", "+x"]])
def test_every_csv_cell_is_neutralised_and_round_trips(rows):
    text = csv_rows(rows)
    _no_formula(_cells(text))
    back = list(csv.reader(io.StringIO(text, newline="")))
    assert back == [[str(csv_cell(v)) for v in row] for row in rows if row] or not rows


# JSON: one document, the same structure, nothing that ends a <script> or a JS string.
@SETTINGS
@given(f=fields)
@example(f=KNOWN_HOLES)
def test_themes_json_keeps_its_structure_and_is_inert(make_ranked_theme, f):
    text = ranking_json([_theme(make_ranked_theme, f)])

    [theme] = json.loads(text)
    assert set(theme) == set(json.loads(ranking_json([make_ranked_theme()]))[0])
    assert len(theme["quotes"]) == len(f["quotes"])
    assert not re.search("[<>&\u2028\u2029]", text)
    for q in theme["quotes"]:
        assert q["url"] is None or q["url"] == safe_link_url(q["url"])


@example(text="\x1b]8;;http://evil.example\x07click\x1b]8;;\x07 \x1b[2J\x1b[31mred\u202eevil")
@given(text=st.text(max_size=40))
def test_no_control_character_reaches_an_output(text):
    # ESC sequences would recolour, clear or link a terminal running `themes` or `search`;
    # bidi overrides make a title read other than it is stored.
    for render in (slack_text, jira_text, markdown_text, html_text, json_text):
        out = render(text, 80)
        assert not re.search(r"[\x00-\x08\x0e-\x1f\x7f-\x84\x86-\x9f\u202a-\u202e\u2066-\u2069]",
                             out), (render.__name__, out)
    assert clean("a\x1b[31mb\u202ec\x85d", 80) == "a[31mbc d"
