"""``feedback-pipeline pulse`` on the hand-counted fixture (tests/rank/test_pulse.py)."""

from __future__ import annotations

import json

from pulse_threads import load_threads
from typer.testing import CliRunner

from feedback_pipeline.cli import app
from feedback_pipeline.warehouse.db import connect

runner = CliRunner()


def _warehouse(tmp_path):
    path = tmp_path / "w.duckdb"
    con = connect(path)
    load_threads(con)
    con.close()
    return ["--warehouse", str(path)]


def test_pulse_table_per_night(tmp_path):
    w = _warehouse(tmp_path)
    result = runner.invoke(app, ["pulse", *w, "--since", "2026-03-08"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    # as of the newest item (rank.as_of = latest): carol's post, 03-10 08:00
    assert lines[0] == "community pulse as of 2026-03-10 08:00 UTC (bots not counted)"
    rows = {line.split()[0]: line.split()[1:] for line in lines[2:5]}
    assert rows["2026-03-09"] == ["3", "4", "5", "4", "2", "2", "(100%)", "3.0", "h"]
    assert rows["2026-03-08"][:6] == ["1", "1", "2", "2", "1", "1"]
    assert rows["2026-03-10"][-1] == "-"
    # 48 h before 03-10 08:00: D2 (92 h) and T2 (71 h) wait; carol's is 0 h old
    waiting = result.output.split(
        "2 customer thread(s) without a staff reply after 48 h, oldest first:")[1]
    assert "ticket d2" in waiting and "thread t2" in waiting and "thread t3" not in waiting
    assert "https://forum.example.com/t/2" in waiting


def test_pulse_json_per_week_for_one_source(tmp_path):
    w = _warehouse(tmp_path)
    result = runner.invoke(app, ["pulse", *w, "--week", "--source", "desk", "--format", "json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert doc["period"] == "week" and doc["unanswered_hours"] == 48
    last = doc["periods"][-1]
    assert (last["posts"], last["replies"], last["customer_threads"],
            last["answered_threads"]) == (2, 3, 2, 2)
    assert last["median_hours_to_staff_reply"] == 3.0
    assert [u["thread_id"] for u in doc["unanswered"]] == ["d2"]


def test_pulse_without_a_warehouse_says_what_to_do(tmp_path):
    result = runner.invoke(app, ["pulse", "--warehouse", str(tmp_path / "none.duckdb")])
    assert result.exit_code == 2
    assert "feedback-pipeline run" in result.output


def test_thread_titles_are_redacted_in_table_and_json(tmp_path):
    path = tmp_path / "w.duckdb"
    con = connect(path)
    load_threads(con)
    con.execute("UPDATE items SET title = 'call +44 20 7946 0958 or bob@example.com', "
                "url = 'https://forum.example.com/t/2?email=bob@example.com' "
                "WHERE external_id = 't2'")
    con.close()
    for fmt in ("table", "json"):
        result = runner.invoke(app, ["pulse", "--warehouse", str(path), "--format", fmt])
        assert result.exit_code == 0, result.output
        assert "bob@example.com" not in result.output and "7946" not in result.output
