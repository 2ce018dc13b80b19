"""`feedback-pipeline backfill`: ingest + embed once, replay day by day, resume after a failure."""

from __future__ import annotations

import json
import re
from datetime import date
from pathlib import Path

import pytest
from typer.testing import CliRunner

from feedback_pipeline import pipeline
from feedback_pipeline.backfill import completed_days
from feedback_pipeline.warehouse.db import connect

pytestmark = pytest.mark.slow

DEMO = Path(__file__).resolve().parents[1] / "demo" / "feedback_demo.jsonl"
DAYS = [date(2026, 11, 18), date(2026, 11, 19), date(2026, 11, 20)]  # the demo's last days


def _plain(text: str) -> str:
    return re.sub(r"\x1b\[[0-9;]*m", "", text)


@pytest.fixture
def recent_demo(tmp_path: Path) -> Path:
    """The demo's last week (~250 records): enough history for a first full clustering."""
    lines = [line for line in DEMO.read_text(encoding="utf-8").splitlines()
             if json.loads(line)["created_at"][:10] >= "2026-11-14"]
    data = tmp_path / "recent.jsonl"
    data.write_text("\n".join(lines) + "\n", encoding="utf-8")
    config = tmp_path / "config.toml"
    config.write_text(f'warehouse = "{tmp_path / "wh.duckdb"}"\n\n[[sources]]\nname = "demo"\n'
                      f'path = "{data}"\n', encoding="utf-8")
    return config


def test_backfill_replays_days_and_resumes_after_a_failure(recent_demo, monkeypatch):
    from feedback_pipeline.cli import app

    runner = CliRunner()
    args = ["backfill", "--since", "2026-11-18", "--config", str(recent_demo)]
    real_rank, calls = pipeline.stage_rank, []

    def rank_then_fail(*a, **kw):
        calls.append(a[0].as_of.date())
        if len(calls) == 2:
            raise RuntimeError("power cut")
        return real_rank(*a, **kw)

    monkeypatch.setattr(pipeline, "stage_rank", rank_then_fail)
    interrupted = runner.invoke(app, args)
    assert isinstance(interrupted.exception, RuntimeError)
    assert calls == DAYS[:2]
    monkeypatch.setattr(pipeline, "stage_rank", real_rank)

    resumed = runner.invoke(app, args)
    assert resumed.exit_code == 0, resumed.output
    out = _plain(resumed.output)
    # Everything was ingested and embedded by the first attempt: nothing again.
    assert ("backfill 2026-11-18..2026-11-20: 2 days replayed, 1 already done; "
            "0 fetched (0 new), 0 embedded; 2026-11-20: ") in out

    again = runner.invoke(app, args)
    assert "0 days replayed, 3 already done" in _plain(again.output)

    con = connect(recent_demo.parent / "wh.duckdb", read_only=True)
    try:
        assert completed_days(con) == set(DAYS)
        runs = con.execute("SELECT status, error, json_extract_string(stats, '$.backfill_day') "
                           "FROM runs ORDER BY started_at").fetchall()
        ranked = con.execute("SELECT count(DISTINCT run_id) FROM theme_scores").fetchone()[0]
        embedded = con.execute("SELECT count(*) FROM embeddings").fetchone()[0]
        items = con.execute("SELECT count(*) FROM items").fetchone()[0]
    finally:
        con.close()
    # prepare, day 1, day 2 (failed); prepare, day 2, day 3; prepare (nothing left to replay)
    assert [(s, d) for s, _, d in runs] == [
        ("completed", None), ("completed", "2026-11-18"), ("failed", "2026-11-19"),
        ("completed", None), ("completed", "2026-11-19"), ("completed", "2026-11-20"),
        ("completed", None)]
    assert runs[2][1] == "RuntimeError: power cut"
    assert ranked == 3 and items > 200 and embedded > 0.9 * items

    status = _plain(runner.invoke(app, ["status", "--config", str(recent_demo)]).output)
    assert "backfill 2026-11-20" in status and "error: RuntimeError: power cut" in status
