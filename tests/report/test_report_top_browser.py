"""The top of the PM report in headless Chromium: the summary table comes first and sorts, every
theme has a link that opens its card, charts have dated axes, breakdowns start closed, no box is
empty, and the trend shown is the ranking's, in the one wording (``rank.trends.trend_phrase``).

Sorting is done as a person does it: a real mouse click or the Enter key on the column heading
(CDP Input events, not a scripted ``click()``).
"""

from __future__ import annotations

from collections import Counter
from contextlib import closing
from datetime import date, timedelta

import pytest

from feedback_pipeline.rank.score import latest_ranking
from feedback_pipeline.rank.trends import trend_phrase
from feedback_pipeline.report.html import collect_report, render_report
from feedback_pipeline.report.summary import type_share
from feedback_pipeline.warehouse import db

from .browser import Chromium, Page
from .conftest import AS_OF, ITEMS, JIRA_SERVER, RANKED_IDS, SHIPPED_ID, SHIPPED_KEY

HEADINGS = ["Rank", "Theme", "Customers", "Trend", "Type", "Jira"]
TREND_ORDER = ["new", "rising", "steady", "fading"]


@pytest.fixture(scope="module")
def ranking(report_warehouse) -> list[dict]:
    with closing(db.connect(report_warehouse, read_only=True)) as con:
        return latest_ranking(con)


def _rows(page: Page) -> list[int]:
    return page.evaluate('[...document.querySelectorAll("table.summary tbody tr")]'
                         ".map(r => Number(r.dataset.themeId))")


def _heading(column: str) -> str:
    return f'document.querySelector(\'table.summary th[data-key="{column}"]\')'


def _click(page: Page, column: str) -> str:
    """A real mouse click on the column's heading; returns its aria-sort afterwards."""
    box = page.evaluate(f"""(() => {{ const b = {_heading(column)}.querySelector("button");
        b.scrollIntoView({{block: "center"}}); const r = b.getBoundingClientRect();
        return [r.x + r.width / 2, r.y + r.height / 2]; }})()""")
    for kind in ("mousePressed", "mouseReleased"):
        page.call("Input.dispatchMouseEvent", type=kind, x=box[0], y=box[1], button="left",
                  clickCount=1)
    return page.evaluate(f"{_heading(column)}.getAttribute('aria-sort')")


def _press_enter(page: Page, column: str) -> str:
    """Focus the column's heading button and press Enter on the keyboard."""
    page.evaluate(f"{_heading(column)}.querySelector('button').focus()")
    page.call("Input.dispatchKeyEvent", type="keyDown", key="Enter", code="Enter",
              windowsVirtualKeyCode=13, nativeVirtualKeyCode=13, text="\r")
    page.call("Input.dispatchKeyEvent", type="keyUp", key="Enter", code="Enter",
              windowsVirtualKeyCode=13, nativeVirtualKeyCode=13)
    return page.evaluate(f"{_heading(column)}.getAttribute('aria-sort')")


def _by_rank(ranking: list[dict], key) -> list[int]:
    return [t["theme_id"] for t in sorted(ranking, key=lambda t: (key(t), t["rank"]))]


def test_the_summary_table_comes_first_with_one_row_per_theme(page, ranking):
    jira_cell = f'table.summary tr[data-theme-id="{SHIPPED_ID}"] td:last-child a'
    top = page.evaluate("""(() => ({
        first: document.querySelector("main").firstElementChild.id,
        headings: [...document.querySelectorAll("table.summary thead th")]
            .map(th => th.textContent.trim()),
        cards: [...document.querySelectorAll("article.theme")].map(c => Number(c.dataset.themeId)),
        cells: Object.fromEntries([...document.querySelectorAll("table.summary tbody tr")].map(
            r => [r.dataset.themeId, [...r.cells].map(c => c.textContent.trim())])),
        jira: document.querySelector('JIRA_CELL').href,
        summaryAboveCards: document.getElementById("summary").getBoundingClientRect().bottom
            <= document.querySelector("article.theme").getBoundingClientRect().top,
    }))()""".replace("JIRA_CELL", jira_cell))

    assert top["first"] == "summary" and top["summaryAboveCards"]
    assert top["headings"] == HEADINGS
    assert _rows(page) == top["cards"] == [t["theme_id"] for t in ranking]
    assert set(top["cards"]) == RANKED_IDS
    for theme in ranking:
        rank, title, customers, _trend, _type, jira = top["cells"][str(theme["theme_id"])]
        assert (rank, title, customers) == (str(theme["rank"]), theme["title"],
                                            str(theme["distinct_authors"]))
        assert jira == (SHIPPED_KEY if theme["theme_id"] == SHIPPED_ID else "not filed")
    assert top["jira"] == f"{JIRA_SERVER}/browse/{SHIPPED_KEY}"


def test_the_type_column_names_the_dominant_item_type(page):
    cells = page.evaluate("""Object.fromEntries([...document.querySelectorAll(
        "table.summary tbody tr")].map(r => [r.dataset.themeId, r.cells[4].textContent.trim()]))""")
    for theme_id in RANKED_IDS:
        counts = Counter(i[5] for i in ITEMS if i[1] == theme_id)
        kind, n = counts.most_common(1)[0]
        assert cells[str(theme_id)] == f"{kind} {round(100 * n / sum(counts.values()))}%"


def test_clicking_a_heading_sorts_the_rows(page, ranking):
    authors = {t["theme_id"]: t["distinct_authors"] for t in ranking}
    assert len(set(authors.values())) > 1  # the fixture lets the order change

    assert _click(page, "customers") == "descending"
    assert _rows(page) == _by_rank(ranking, lambda t: -t["distinct_authors"])
    assert _click(page, "customers") == "ascending"
    assert _rows(page) == _by_rank(ranking, lambda t: t["distinct_authors"])
    assert _click(page, "jira") == "ascending"
    assert _rows(page)[0] == SHIPPED_ID  # the filed issue first; themes without one after it
    assert _rows(page)[1:] == [t["theme_id"] for t in ranking if t["theme_id"] != SHIPPED_ID]
    assert _click(page, "trend") == "ascending"
    assert _rows(page) == _by_rank(ranking, lambda t: (TREND_ORDER.index(t["trend"]),
                                                       -(t["trend_recent"] or 0)))
    assert _click(page, "rank") == "ascending"
    assert _rows(page) == [t["theme_id"] for t in ranking]
    assert page.evaluate("[...document.querySelectorAll('table.summary th[aria-sort]')]"
                         ".filter(th => th.getAttribute('aria-sort') !== 'none').length") == 1
    assert page.errors() == []


def test_the_keyboard_sorts_too(page, ranking):
    assert _press_enter(page, "title") == "ascending"
    assert _rows(page) == [t["theme_id"] for t in sorted(ranking, key=lambda t: t["title"])]
    assert _press_enter(page, "title") == "descending"
    assert _rows(page) == [t["theme_id"] for t in sorted(ranking, key=lambda t: t["title"],
                                                         reverse=True)]
    assert _press_enter(page, "rank") == "ascending"
    assert _rows(page) == [t["theme_id"] for t in ranking]


def test_every_theme_link_opens_its_card(page, ranking):
    for theme in ranking:
        tid = theme["theme_id"]
        landed = page.evaluate(f"""(() => {{
            document.querySelector('table.summary tr[data-theme-id="{tid}"] a').click();
            const target = document.querySelector(":target");
            const top = target.getBoundingClientRect().top;
            return {{hash: location.hash, target: target.id, inView: top >= 0 && top < innerHeight,
                     permalink: target.querySelector("a.permalink").getAttribute("href"),
                     label: target.querySelector("a.permalink").textContent}};
        }})()""")
        assert landed == {"hash": f"#theme-{tid}", "target": f"theme-{tid}", "inView": True,
                          "permalink": f"#theme-{tid}", "label": "link"}
    page.evaluate("history.replaceState(null, '', location.pathname); scrollTo(0, 0)")


def test_score_breakdowns_start_collapsed(page):
    state = page.evaluate("""[...document.querySelectorAll("article.theme")].map(card => {
        const why = card.querySelector("details.why");
        return {open: why.open, shown: why.querySelector("table.breakdown").checkVisibility(),
                summary: why.querySelector("summary").textContent};
    })""")
    assert len(state) == len(RANKED_IDS)
    for card in state:
        assert card == {"open": False, "shown": False, "summary": card["summary"]}
        assert card["summary"].startswith("Why it ranks here (score ")
    opened = page.evaluate("""(() => { const why = document.querySelector("details.why");
        why.querySelector("summary").click(); const shown = why.querySelector("table.breakdown")
        .checkVisibility(); why.open = false; return shown; })()""")
    assert opened is True


def test_charts_have_dated_and_counted_axes(page):
    charts = page.evaluate("""[...document.querySelectorAll("article.theme")].map(card => ({
        id: card.dataset.themeId,
        x: [...card.querySelectorAll("svg.trend text.tick-x")].map(t => [t.dataset.day,
            t.textContent, t.getBBox().width]),
        y: [...card.querySelectorAll("svg.trend text.tick-y")].map(t => [t.textContent,
            t.getBBox().width]),
        axes: card.querySelectorAll("svg.trend line.x-axis, svg.trend line.y-axis").length,
    }))""")
    chart = page.evaluate("JSON.parse(document.getElementById('report-data').textContent)")
    start = date.fromisoformat(chart["start"])
    end = start + timedelta(days=chart["days"] - 1)
    assert end == AS_OF.date() - timedelta(days=1)  # the newest member is a day before AS_OF

    for c in charts:
        days = [date.fromisoformat(d) for d, _text, _w in c["x"]]
        assert days[0] == start and days[-1] == end and days == sorted(set(days))
        assert len(days) >= 3
        for day, text, width in c["x"]:
            assert text == f"{date.fromisoformat(day).day} {date.fromisoformat(day):%b}"
            assert width > 0
        per_day = Counter((AS_OF - timedelta(days=i[4])).date() for i in ITEMS
                          if i[1] == int(c["id"]))
        counts = [int(text) for text, width in c["y"] if width > 0]
        assert counts[0] == 0 and counts[-1] == max(per_day.values())
        assert c["axes"] == 2


def test_no_box_is_empty(page, ranking):
    found = page.evaluate("""(() => {
        const shown = el => el.getClientRects().length > 0;
        const boxes = [...document.querySelectorAll("main section, main .flag, article.theme, "
            + ".mix, main details, main ul, main p, table.summary td, figure")].filter(shown);
        return {empty: boxes.filter(b => !b.textContent.trim()).map(b => b.outerHTML.slice(0, 80)),
                none: [...document.querySelectorAll("main li")].filter(shown)
                    .filter(li => li.textContent.trim() === "none").length,
                flags: [...document.querySelectorAll(".flag")].map(f => f.className),
                boxes: boxes.length};
    })()""")

    assert found["boxes"] > 20
    assert found["empty"] == [] and found["none"] == 0
    flags = {t["trend"] for t in ranking} - {"steady"}
    assert sorted(found["flags"]) == sorted(f"flag flag-{f}" for f in flags)


def test_the_trend_shown_is_the_rankings_in_the_one_wording(page, ranking):
    shown = page.evaluate("""(() => {
        const phrase = el => [el.dataset.trend, el.textContent];
        return {
            rows: Object.fromEntries([...document.querySelectorAll("table.summary tbody tr")]
                .map(r => [r.dataset.themeId, phrase(r.querySelector(".trend-phrase"))])),
            cards: Object.fromEntries([...document.querySelectorAll("article.theme")].map(c =>
                [c.dataset.themeId, [c.dataset.trend, ...phrase(c.querySelector(
                    ".trend-line .trend-phrase")), c.querySelector(".badge").textContent]])),
            text: document.body.innerText,
        };
    })()""")
    assert {t["trend"] for t in ranking} >= {"new", "rising"}
    for theme in ranking:
        tid, label, phrase = str(theme["theme_id"]), theme["trend"], trend_phrase(theme)
        assert shown["rows"][tid] == [label, phrase]
        assert shown["cards"][tid] == [label, label, phrase, label]
    assert "vs previous" not in shown["text"] and "(×" not in shown["text"]


def test_an_empty_ranking_loads_without_errors(chromium_binary, tmp_path):
    with closing(db.connect(":memory:")) as con:
        html = render_report(collect_report(con))
    out = tmp_path / "empty.html"
    out.write_text(html, encoding="utf-8")
    browser = Chromium(chromium_binary, tmp_path / "profile")
    try:
        tab = browser.new_page()
        tab.open(out.as_uri())
        text = tab.evaluate("document.querySelector('main').innerText.trim()")
        assert tab.errors() == []
        tab.close()
    finally:
        browser.close()
    assert text == "No theme has enough distinct authors yet: nothing is ranked."


@pytest.mark.parametrize(("counts", "expected"), [
    ({"problem": 4, "request": 3, "question": 1}, ("problem", 50)),
    ({"request": 2, "problem": 2}, ("mixed", 50)),
    ({"untyped": 5, "praise": 1}, ("praise", 100)),
    ({"untyped": 3}, ("untyped", 0)),
    ({}, ("untyped", 0)),
])
def test_type_share(counts, expected):
    assert type_share(counts) == expected
