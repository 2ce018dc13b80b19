"""Observability: stage timings, `feedback-pipeline status`, the run-summary artifact text,
progress bars, and the backfill guard, on fresh warehouses with exact rows."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime

import pytest
from typer.testing import CliRunner

from feedback_pipeline.backfill import check_backfill
from feedback_pipeline.cli import app
from feedback_pipeline.errors import ConfigError
from feedback_pipeline.report.status import (
    progress_bar,
    recent_runs,
    run_summary_markdown,
    stage_line,
    status_table,
    warehouse_status,
)
from feedback_pipeline.warehouse import runs
from feedback_pipeline.warehouse.db import connect
from feedback_pipeline.warehouse.runs import PROCESS

T0 = datetime(2026, 11, 20, 2, 0, 0, tzinfo=UTC)

NIGHT = {
    "run_id": "r-ok",
    "ingest": {"fetched": 12, "new": 10, "changed": 1, "rejected": 2, "failed_sources": [],
               "by_source": {"forum": {"fetched": 12}}},
    "clean": {"cleaned": 11, "kept": 9, "dropped": {"too_short": 1, "bot": 1}},
    "embed": {"embedded": 9, "model": "m", "types": {"request": 9}},
    "cluster": {"mode": "full", "items": 9, "themes": 2, "noise_items": 1, "new_themes": 2,
                "noise_fraction": 0.11, "as_of": "2026-11-19T23:59:59+00:00"},
    "rank": {"ranked": 2, "as_of": "2026-11-19T23:59:59+00:00"},
    "deliver": {"jira_issues": 2, "slack_digests": 1, "created": 3, "updated": 0,
                "unchanged": 0, "outbox": "outbox"},
    "seconds": {"ingest": 1.5, "clean": 0.25, "embed": 12.0, "cluster": 4.0, "rank": 0.5,
                "deliver": 0.75},
}


def _insert_run(con, run_id, started, finished, status, stats, error=None, process=PROCESS):
    con.execute("INSERT INTO runs (run_id, started_at, finished_at, status, stats, error, "
                "process) VALUES (?, ?, ?, ?, ?, ?, ?)",
                [run_id, started, finished, status, json.dumps(stats), error, process])


@pytest.fixture
def busy_warehouse(tmp_path):
    """Three runs (completed, failed, still running), rejects of two sources, two cursors."""
    path = tmp_path / "wh.duckdb"
    con = connect(path)
    _insert_run(con, "r-ok", T0, T0.replace(minute=1, second=30), "completed", NIGHT)
    failed = {"run_id": "r-bad", "ingest": NIGHT["ingest"], "clean": NIGHT["clean"],
              "seconds": {"ingest": 2.0, "clean": 0.5, "embed": 3.25}}
    _insert_run(con, "r-bad", T0.replace(day=21), T0.replace(day=21, second=6), "failed", failed,
                "ModelError: cannot load model for ops@example.com")
    _insert_run(con, "r-now", T0.replace(day=22), None, "running", {})
    con.execute("INSERT INTO rejected_items (source, raw_hash, position, reason) VALUES "
                "('forum', 'h1', 'f:1', 'bad json'), ('forum', 'h2', 'f:2', 'no date'), "
                "('desk', 'h3', 'd:1', 'bad kind')")
    con.execute("INSERT INTO source_cursors VALUES ('forum', '2026-11-19T10:00:00Z', ?), "
                "('desk', 'page=7', ?)", [T0, T0])
    con.close()
    return path


def test_timed_records_seconds_even_when_the_stage_fails():
    stats: dict = {}
    with runs.timed(stats, "ingest"):
        pass
    with pytest.raises(RuntimeError), runs.timed(stats, "embed"):
        raise RuntimeError("model gone")
    assert set(stats["seconds"]) == {"ingest", "embed"}
    # Recorded, not judged: how long a stage may take is never asserted in tests.
    assert all(isinstance(s, float) and s >= 0 for s in stats["seconds"].values())


@pytest.mark.parametrize(("stage", "expected"), [
    ("ingest", "12 fetched, 10 new, 1 changed, 2 rejected"),
    ("clean", "11 cleaned, 9 kept, dropped: too_short 1, bot 1"),
    ("embed", "9 embedded (m)"),
    ("cluster", "full: 2 themes over 9 items, 1 noise, 2 new themes"),
    ("rank", "2 themes ranked as of 2026-11-19T23:59:59+00:00"),
    ("deliver", "jira 2 issues, slack 1 digest(s); outbox 3 created, 0 updated, 0 unchanged"),
], ids=lambda v: v if v in NIGHT else None)
def test_stage_line(stage, expected):
    assert stage_line(stage, NIGHT[stage]) == expected


def test_stage_line_extras():
    assert stage_line("embed", {"embedded": 40, "model": "m",
                                "dask": {"chunks": 3, "workers": 2}}) == (
        "40 embedded (m) on 2 Dask workers in 3 chunks")
    assert stage_line("ingest", {**NIGHT["ingest"], "failed_sources": ["desk"]}).endswith(
        "; failed sources: desk")
    live = {**NIGHT["deliver"], "jira": {"created": 1, "issues": 2, "keys": ["A-1"]}}
    assert stage_line("deliver", live).endswith("; live jira: created=1, issues=2")
    assert stage_line("future", {"a": 1, "b": [1], "c": "x"}) == "a=1, c=x"


def test_recent_runs_newest_first_with_durations_and_redacted_errors(busy_warehouse):
    con = connect(busy_warehouse, read_only=True)
    runs = recent_runs(con, limit=10)
    con.close()
    assert [(r["run_id"], r["status"]) for r in runs] == [
        ("r-now", "running"), ("r-bad", "failed"), ("r-ok", "completed")]
    ok, bad = runs[2], runs[1]
    assert (ok["seconds"], bad["seconds"]) == (pytest.approx(90.0), pytest.approx(6.0))
    assert runs[0]["finished_at"] is None and runs[0]["stages"] == []
    assert [(s["stage"], s["seconds"]) for s in ok["stages"]] == [
        ("ingest", 1.5), ("clean", 0.25), ("embed", 12.0), ("cluster", 4.0), ("rank", 0.5),
        ("deliver", 0.75)]
    # The stage that failed has a time but no result.
    assert bad["stages"][-1] == {"stage": "embed", "seconds": 3.25, "summary": "did not finish"}
    assert bad["error"] == "ModelError: cannot load model for [email]"


def test_status_command_table_and_json(busy_warehouse):
    runner = CliRunner()
    result = runner.invoke(app, ["status", "--warehouse", str(busy_warehouse), "--limit", "2"])
    assert result.exit_code == 0, result.output
    out = re.sub(r"\x1b\[[0-9;]*m", "", result.output)
    lines = out.splitlines()
    assert lines[0].startswith("run r-now  running")
    assert lines[1].startswith("run r-bad  failed     started 2026-11-21 02:00:00  took 6.0 s")
    assert lines[2] == "  ingest      2.0 s  12 fetched, 10 new, 1 changed, 2 rejected"
    assert lines[4] == "  embed       3.2 s  did not finish"
    assert lines[5] == "  error: ModelError: cannot load model for [email]"
    assert "r-ok" not in out  # --limit 2
    assert "rejected records: 3 (desk 1, forum 2)" in lines
    assert "  desk         2026-11-20 02:00:00  page=7" in lines

    result = runner.invoke(app, ["status", "-w", str(busy_warehouse), "--format", "json"])
    assert result.exit_code == 0
    report = json.loads(result.output)
    assert [r["run_id"] for r in report["runs"]] == ["r-now", "r-bad", "r-ok"]
    assert report["rejected"][1]["records"] == 2
    assert [c["source"] for c in report["cursors"]] == ["desk", "forum"]


def test_status_leaves_the_warehouse_unchanged_and_closed(busy_warehouse):
    before = busy_warehouse.read_bytes()
    assert CliRunner().invoke(app, ["status", "-w", str(busy_warehouse)]).exit_code == 0
    assert busy_warehouse.read_bytes() == before
    con = connect(busy_warehouse)  # a writer can open it at once: status closed its connection
    con.close()


def test_status_without_runs_or_warehouse(tmp_path):
    con = connect(":memory:")
    assert status_table(warehouse_status(con)).splitlines()[0] == (
        "no runs yet: run `feedback-pipeline run`")
    con.close()
    result = CliRunner().invoke(app, ["status", "-w", str(tmp_path / "none.duckdb")])
    assert result.exit_code == 2 and "run `feedback-pipeline run` first" in result.output


def test_run_summary_markdown():
    md = run_summary_markdown("r-ok", NIGHT)
    assert md.splitlines()[:5] == [
        "**Run r-ok: completed**", "", "| stage | seconds | what it did |", "|---|---|---|",
        "| ingest | 1.5 | 12 fetched, 10 new, 1 changed, 2 rejected |"]
    assert len(md.splitlines()) == 4 + 6
    failed = run_summary_markdown("r-bad", {"seconds": {"ingest": 2.0}},
                                  error="SourceError: 401 for token=abcd1234secret from a@b.io")
    assert "**Run r-bad: failed**" in failed
    assert "| ingest | 2.0 | did not finish |" in failed
    assert "abcd1234secret" not in failed and "a@b.io" not in failed and "[email]" in failed


def test_progress_bar_silent_unless_enabled(capsys):
    with progress_bar("embedding", enabled=False) as bar:
        assert bar is None
    with progress_bar("embedding") as bar:  # pytest's captured stderr is not a terminal
        assert bar is None
    with progress_bar("embedding", enabled=True) as bar:
        for done in (2, 3):
            bar(done, 3)
    err = capsys.readouterr().err
    assert "embedding" in err and "3/3" in err


def _backfill_run(con, run_id, day: date, *, cluster_as_of: str, backfill=True):
    stats = {"cluster": {"mode": "full", "as_of": cluster_as_of}}
    if backfill:
        stats["backfill_day"] = day.isoformat()
    _insert_run(con, run_id, T0, T0, "completed", stats)


def test_check_backfill_refuses_to_replay_days_a_nightly_run_clustered_past():
    con = connect(":memory:")
    since, until = date(2026, 11, 1), date(2026, 11, 3)
    check_backfill(con, since=since, until=until)  # fresh warehouse
    _backfill_run(con, "b1", since, cluster_as_of="2026-11-01T23:59:59+00:00")
    _backfill_run(con, "b2", date(2026, 11, 2), cluster_as_of="2026-11-02T23:59:59+00:00")
    check_backfill(con, since=since, until=until)  # resuming its own backfill
    _backfill_run(con, "n1", until, cluster_as_of="2026-11-04T08:00:00+00:00", backfill=False)
    with pytest.raises(ConfigError, match="run n1 already clustered items up to 2026-11-04T08"):
        check_backfill(con, since=since, until=until)
    # Once every day is done, re-running the finished backfill is allowed (replays nothing).
    _backfill_run(con, "b3", until, cluster_as_of="2026-11-03T23:59:59+00:00")
    check_backfill(con, since=since, until=until)
    con.close()
