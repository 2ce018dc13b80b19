"""The PM report in headless Chromium: loads cleanly, charts render, filters work, screenshot.

Needs Debian's ``chromium`` (CI installs it in .ci/run). Without it these tests fail and say how
to install it, unless FP_SKIP_BROWSER_TESTS=1. The screenshot is saved in the test's tmp folder
and copied to tests/artifacts/report/report.png (git-ignored) for people to look at.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from .browser import Page
from .conftest import ITEMS, RANKED_IDS, VISIBLE

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts" / "report"


def _set_filters(page: Page, source: str, item_type: str) -> dict:
    """Choose the filters as a person would (value + change event); return what is visible."""
    choices = f'[["filter-source", {source!r}], ["filter-type", {item_type!r}]]'
    return page.evaluate(f"""(() => {{
        for (const [id, value] of {choices}) {{
            const select = document.getElementById(id);
            select.value = value;
            select.dispatchEvent(new Event("change", {{bubbles: true}}));
        }}
        const visible = el => !el.hidden && el.offsetParent !== null;
        const cards = [...document.querySelectorAll("article.theme")];
        return {{
            cards: cards.filter(visible).map(c => Number(c.dataset.themeId)),
            rows: [...document.querySelectorAll("table.summary tbody tr")].filter(visible)
                .map(r => Number(r.dataset.themeId)),
            matches: Object.fromEntries(cards.filter(visible).map(
                c => [c.dataset.themeId, c.querySelector(".match").textContent])),
            quotes: cards.filter(visible).flatMap(c => [...c.querySelectorAll("li.quote")]
                .filter(visible).map(q => [q.dataset.source, q.dataset.type])),
            peaks: Object.fromEntries(cards.filter(visible).map(
                c => [c.dataset.themeId, c.querySelector(".trend-caption").textContent])),
            shown: document.getElementById("shown-count").textContent,
        }};
    }})()""")


def test_the_page_loads_without_errors_or_requests(page, report_file):
    assert page.errors() == []
    assert page.requests() == [report_file.as_uri()]
    assert page.evaluate("document.title").startswith("Customer feedback themes")


def test_every_theme_card_has_a_drawn_trend_chart(page):
    charts = page.evaluate("""[...document.querySelectorAll("article.theme")].map(card => {
        const svg = card.querySelector("svg.trend");
        const line = svg.querySelector("path.line"), area = svg.querySelector("path.area");
        const box = line.getBBox(), rect = svg.getBoundingClientRect();
        return {id: Number(card.dataset.themeId), points: line.getAttribute("d").split("L").length,
                width: box.width, height: area.getBBox().height, shown: rect.width * rect.height};
    })""")
    days = page.evaluate("JSON.parse(document.getElementById('report-data').textContent).days")

    assert {c["id"] for c in charts} == RANKED_IDS
    for chart in charts:
        assert chart["points"] == days > 1
        assert chart["width"] > 0 and chart["height"] > 0 and chart["shown"] > 0


@pytest.mark.parametrize(("source", "item_type"), list(VISIBLE),
                         ids=[f"{s or 'any'}-{t or 'any'}" for s, t in VISIBLE])
def test_filters_hide_what_does_not_match(page, source, item_type):
    state = _set_filters(page, source, item_type)

    expected = VISIBLE[(source, item_type)]
    assert set(state["cards"]) == expected
    assert set(state["rows"]) == expected  # the summary table follows the filters too
    assert state["shown"] == f"{len(expected)} of {len(RANKED_IDS)} themes shown"
    for s, t in state["quotes"]:
        assert source in ("", s) and item_type in ("", t)
    if source or item_type:
        for theme_id in expected:
            n = sum(1 for i in ITEMS if i[1] == theme_id and source in ("", i[2])
                    and item_type in ("", i[5]))
            assert state["matches"][str(theme_id)] == f"· {n} matching the filter"
    _set_filters(page, "", "")
    assert page.errors() == []


def test_a_filter_redraws_the_charts(page):
    def totals() -> dict[str, int]:
        return page.evaluate("""Object.fromEntries([...document.querySelectorAll("article.theme")]
            .filter(c => !c.hidden).map(c => [c.dataset.themeId,
                Number(c.querySelector("svg.trend title").textContent.split(" ")[0])]))""")

    everything = totals()
    _set_filters(page, "forum", "")
    forum_only = totals()
    _set_filters(page, "", "")

    # every item of the fixture lies inside the chart window
    assert everything == {str(t): sum(1 for i in ITEMS if i[1] == t) for t in RANKED_IDS}
    assert forum_only == {"1": sum(1 for i in ITEMS if i[1] == 1 and i[2] == "forum")} == {"1": 4}


def test_hostile_text_stays_text(page):
    assert page.evaluate("window.pwned === undefined")
    assert page.evaluate("document.querySelectorAll('blockquote b, blockquote script').length") == 0
    assert "<script>window.pwned=1</script>" in page.evaluate(
        "document.querySelector('#theme-1 blockquote').textContent")


def test_screenshot_is_saved(page, tmp_path):
    shot = page.screenshot(tmp_path / "report.png")

    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(shot, ARTIFACTS / "report.png")
