"""The PM report's content, without a browser: what is on the page, redaction, self-containment."""

from __future__ import annotations

import json
import re
from collections import Counter
from contextlib import closing
from datetime import timedelta

import duckdb
import pytest
from typer.testing import CliRunner

from feedback_pipeline.cli import app
from feedback_pipeline.errors import WarehouseError
from feedback_pipeline.rank.score import latest_ranking
from feedback_pipeline.report.html import collect_report, render_report
from feedback_pipeline.warehouse import db

from .conftest import (
    AS_OF,
    HOSTILE,
    ITEMS,
    JIRA_SERVER,
    LEAKY_EMAIL,
    RANKED_IDS,
    SHIPPED_ID,
    SHIPPED_KEY,
    THEMES,
)

runner = CliRunner()


@pytest.fixture(scope="module")
def con(report_warehouse):
    with closing(db.connect(report_warehouse, read_only=True)) as con:
        yield con


@pytest.fixture(scope="module")
def page(con) -> str:
    return render_report(collect_report(con, jira_server=JIRA_SERVER))


def _cards(html: str) -> list[int]:
    return [int(m) for m in re.findall(r'<article class="theme" id="theme-(\d+)"', html)]


def _chart_rows(html: str) -> list[list]:
    raw = re.search(r'<script type="application/json" id="report-data">(.*?)</script>', html,
                    re.S).group(1)
    return json.loads(raw)["rows"]


def test_only_themes_of_the_stored_ranking_appear_in_rank_order(con, page):
    ranking = latest_ranking(con)

    assert _cards(page) == [t["theme_id"] for t in ranking]
    assert set(_cards(page)) == RANKED_IDS
    for theme_id in (4, 5):  # below min_authors; rejected
        assert THEMES[theme_id][0] not in page


def test_limit_keeps_the_top_themes(con):
    data = collect_report(con, limit=2)

    assert [t["rank"] for t in data.themes] == [1, 2]
    assert data.ranked_total == 3


def test_score_breakdown_is_the_stored_one(con, page):
    for theme in latest_ranking(con):
        card = page.split(f'id="theme-{theme["theme_id"]}"')[1].split("</article>")[0]
        shown = dict(re.findall(r'<th scope="row">([a-z ]+)</th><td>[^<]*</td><td>[^<]*</td>'
                                r"<td>[^<]*</td><td>([0-9.]+)</td>", card))
        stored = json.loads(theme["breakdown"])
        assert shown == {k.replace("_", " "): f"{c['points']:.2f}" for k, c in stored.items()}
        assert f"score <b>{theme['score']:.2f}</b>" in card


def test_chart_data_counts_every_member_by_day_source_and_type(page):
    got = Counter()
    for theme_id, day, source, item_type, n in _chart_rows(page):
        got[(theme_id, day, source, item_type)] += n
    expected = Counter()
    for _ext, theme_id, source, _author, days, item_type, _lang in ITEMS:
        if theme_id in RANKED_IDS:
            day = (AS_OF - timedelta(days=days)).date().isoformat()
            expected[(theme_id, day, source, item_type)] += 1
    assert got == expected


def test_trend_flags_shipped_and_mixes_are_shown(page):
    assert re.search(r'data-theme-id="1" data-trend="rising"', page)
    assert re.search(r'data-theme-id="3" data-trend="new"', page)
    shipped = page.split('<section id="shipped">')[1].split("</section>")[0]
    assert f'href="{JIRA_SERVER}/browse/{SHIPPED_KEY}"' in shipped
    assert THEMES[SHIPPED_ID][0] in shipped
    assert 'href="https://github.com/acme/app/issues/d1"' in shipped  # a thread to reply to
    card = page.split('id="theme-1"')[1].split("</article>")[0]
    assert "problem 50% (4)" in card and "request 38% (3)" in card and "question 12% (1)" in card
    assert "en 75% (6)" in card and "de 25% (2)" in card
    assert '<option value="github">github (5)</option>' in page
    assert '<option value="problem">problem (6)</option>' in page


def test_quotes_are_redacted_escaped_and_linked_only_when_safe(page):
    assert LEAKY_EMAIL not in page and "[email]" in page
    assert "<script>window.pwned" not in page and "&lt;script&gt;window.pwned=1" in page
    assert "<b>bold</b>" not in page
    assert "s3cr3tvalue99" not in page  # the quote's URL carries a token: never on the page
    assert 'href="https://support.example.com/tickets/e3"' in page
    assert HOSTILE not in page


def test_the_page_loads_nothing_from_outside(page):
    assert not re.search(r"<(script|img|link|iframe|object|embed|source)\b[^>]*\s(src|href)=",
                         page, re.I)
    assert "url(" not in page and "@import" not in page
    assert "default-src 'none'" in page
    # every external address is a plain link the reader may follow
    addresses = re.findall(r'(\w+)="(https?://[^"]*)"', page)
    assert addresses and {attr for attr, _ in addresses} == {"href"}


def test_an_empty_ranking_still_makes_a_page():
    with closing(db.connect(":memory:")) as con:
        html = render_report(collect_report(con))
    assert "No theme has enough distinct authors yet" in html
    assert _chart_rows(html) == []


def test_an_old_warehouse_says_what_to_do():
    with closing(duckdb.connect(":memory:")) as con:
        con.execute("CREATE TABLE items (source VARCHAR)")
        with pytest.raises(WarehouseError, match="run `feedback-pipeline run` once"):
            collect_report(con)


def test_report_command_writes_the_page(report_warehouse, tmp_path):
    out = tmp_path / "nested" / "report.html"

    result = runner.invoke(app, ["report", "--warehouse", str(report_warehouse), "--output",
                                 str(out), "--limit", "2"])

    assert result.exit_code == 0, result.output
    assert f"wrote {out}: 2 of 3 ranked themes, 1 shipped" in result.output
    assert len(_cards(out.read_text(encoding="utf-8"))) == 2


def test_report_command_has_help_and_clear_errors(tmp_path):
    help_text = runner.invoke(app, ["report", "--help"])
    assert help_text.exit_code == 0 and "self-contained" in help_text.output

    missing = runner.invoke(app, ["report", "--warehouse", str(tmp_path / "none.duckdb")])
    assert missing.exit_code == 2
    assert "run `feedback-pipeline run` first" in missing.output
