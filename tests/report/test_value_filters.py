"""`themes` and `report` with --segment/--plan, and the value parts of `themes show` and of the
report's cards, on the digest warehouse with accounts (tests/deliver/test_value_outputs.py)."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from feedback_pipeline.cli import app
from tests.deliver.digest_warehouse import build
from tests.deliver.test_value_outputs import with_accounts


@pytest.fixture(scope="module")
def warehouse_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("value") / "feedback.duckdb"
    with_accounts(build(path)).close()
    return path


def cli(*args: str) -> str:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def test_themes_segment_filter_json(warehouse_file):
    everything = json.loads(cli("themes", "-w", str(warehouse_file), "--format", "json"))
    enterprise = json.loads(cli("themes", "-w", str(warehouse_file), "--format", "json",
                                "--segment", "enterprise"))
    assert len(everything) == 6
    by_id = {t["theme_id"]: t for t in enterprise}
    assert set(by_id) == {1, 3}
    assert (by_id[1]["item_count"], by_id[1]["distinct_authors"], by_id[1]["accounts_affected"],
            by_id[1]["arr_at_stake"]) == (4, 4, 1, 250_000.0)
    assert by_id[1]["filtered_by"] == "segment enterprise"
    full = {t["theme_id"]: t for t in everything}
    assert (full[1]["accounts_affected"], full[1]["arr_at_stake"]) == (2, 262_000.0)
    assert by_id[1]["rank"] == full[1]["rank"]


def test_themes_plan_filter_table_and_csv(warehouse_file):
    table = cli("themes", "-w", str(warehouse_file), "--plan", "pro")
    assert "CSV export" in table and "Card payment" not in table
    assert "value: 1 account, ARR at stake 12,000" in table
    csv_out = cli("themes", "-w", str(warehouse_file), "--plan", "PRO", "--plan", "free",
                  "--format", "csv")
    header, *rows = csv_out.strip().splitlines()
    assert header.endswith(",accounts_affected,arr_at_stake") and len(rows) == 1


def test_themes_show_has_the_value_reason_and_breakdown(warehouse_file):
    out = cli("themes", "show", "1", "-w", str(warehouse_file))
    assert "(262,000 ARR at stake in 2 accounts: 100% of the largest theme's (262,000)" in out
    assert "value: 2 accounts, ARR at stake 262,000" in out
    assert "by segment: enterprise 1 (250k), mid-market 1 (12k)" in out
    assert "top accounts: Acme Corp (250k), globex (12k)" in out


def test_report_card_shows_the_breakdown_and_the_filter(warehouse_file, tmp_path):
    page_path = tmp_path / "report.html"
    cli("report", "-w", str(warehouse_file), "-o", str(page_path))
    page = page_path.read_text("utf-8")
    card = page.split('id="theme-1"')[1].split("</article>")[0]
    assert "<b>Customer value:</b> 2 accounts · <b>262k</b> ARR at stake" in card
    assert "<b>by plan:</b> enterprise 1 (250k) · pro 1 (12k)" in card
    assert "<b>top accounts:</b> Acme Corp (250k), globex (12k)" in card
    assert '<p class="reason">value: 262,000 ARR at stake in 2 accounts' in card
    assert "Customer value" not in page.split('id="theme-2"')[1].split("</article>")[0]

    cli("report", "-w", str(warehouse_file), "-o", str(page_path), "--segment", "mid-market")
    page = page_path.read_text("utf-8")
    assert "1 of 1 ranked themes · segment mid-market" in page
    assert 'id="theme-3"' not in page
    card = page.split('id="theme-1"')[1].split("</article>")[0]
    assert ("<b>Customer value:</b> 1 account · <b>12k</b> ARR at stake (segment mid-market; "
            "breakdown over all its accounts)") in card
    assert "<b>2</b> items from" in card  # globex's two tickets
