"""The report's Community pulse section on the hand-counted fixture (tests/rank/test_pulse.py):
the HTML, and the page in headless Chromium."""

from __future__ import annotations

import re
from contextlib import closing

import pytest
from pulse_threads import load_threads

from feedback_pipeline.rank.pulse import PulseConfig
from feedback_pipeline.report.html import write_report
from feedback_pipeline.warehouse import db

from .browser import Chromium


@pytest.fixture(scope="module")
def pulse_page(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pulse-report")
    with closing(db.connect(folder / "w.duckdb")) as con:
        load_threads(con)
        # a customer title with markup and an e-mail address: escaped and redacted
        con.execute("UPDATE items SET title = '<b>help</b> mail bob@example.com' "
                    "WHERE external_id = 't2'")
        write_report(con, folder / "report.html", pulse=PulseConfig(nights=3, weeks=2))
    return folder / "report.html"


def _section(html: str) -> str:
    return re.search(r'<section id="pulse">.*?</section>', html, re.S).group(0)


def test_the_section_shows_weeks_nights_and_waiting_threads(pulse_page):
    section = _section(pulse_page.read_text("utf-8"))
    rows = re.findall(r"<tr><td>(.*?)</td></tr>", section)
    cells = [r.split("</td><td>") for r in rows]
    # weeks newest first, then nights newest first (as of the newest item, 03-10 08:00)
    assert [c[0] for c in cells] == ["2026-03-09", "2026-03-02", "2026-03-10", "2026-03-09",
                                     "2026-03-08"]
    assert cells[0][1:] == ["6", "5", "4", "4", "3", "2 (67%)", "3.0 h"]
    assert cells[3][1:] == ["5", "4", "3", "4", "2", "2 (100%)", "3.0 h"]
    waiting = section.split("2 customer threads waiting for a staff reply over 48 h (the oldest 2)")[1]
    assert waiting.index("tickets/d2") < waiting.index("forum.example.com/t/2")
    assert "&lt;b&gt;help&lt;/b&gt;" in waiting and "bob@example.com" not in waiting
    assert "1 customer reply" in waiting  # bob's own reply on T2; the bot's is not one


def test_no_section_without_thread_data(tmp_path):
    with closing(db.connect(tmp_path / "w.duckdb")) as con:
        write_report(con, tmp_path / "r.html")
    assert 'id="pulse"' not in (tmp_path / "r.html").read_text("utf-8")


def test_the_section_renders_in_chromium(chromium_binary, pulse_page, tmp_path):
    browser = Chromium(chromium_binary, tmp_path / "profile")
    try:
        tab = browser.new_page()
        tab.open(pulse_page.as_uri())
        shown = tab.evaluate("""(() => { const s = document.getElementById("pulse");
            const r = s.getBoundingClientRect();
            return [r.width > 0 && r.height > 0, s.querySelectorAll("table.pulse tbody tr").length,
                    s.querySelectorAll("ul.unanswered a[href]").length]; })()""")
        assert shown == [True, 5, 2]
        assert tab.errors() == []
        tab.close()
    finally:
        browser.close()
