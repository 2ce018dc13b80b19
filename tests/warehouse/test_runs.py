"""The runs table: one context opens and closes every run, and its as_of is resolved once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from contextlib import closing
from datetime import UTC, datetime, timedelta

import duckdb
import pytest

from feedback_pipeline.warehouse.db import connect
from feedback_pipeline.warehouse.runs import open_run, resolve_as_of, save_progress

T0 = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)


@pytest.fixture
def con():
    con = connect(":memory:")
    yield con
    con.close()


def add_item(con, external_id: str, created_at: datetime) -> None:
    con.execute("INSERT INTO items (source, external_id, kind, created_at, updated_at, "
                "content_hash) VALUES ('forum', ?, 'community_post', ?, ?, 'h')",
                [external_id, created_at, created_at])


def row(con, run_id: str) -> tuple:
    return con.execute("SELECT status, stats, error, finished_at IS NOT NULL FROM runs "
                       "WHERE run_id = ?", [run_id]).fetchone()


def test_a_run_that_ends_normally_is_completed_with_its_stats(con):
    with open_run(con, stats={"backfill_day": "2026-11-20"}) as run:
        assert row(con, run.run_id)[0] == "running"
        run.stats["cluster"] = {"themes": 3}
    status, stats, error, finished = row(con, run.run_id)
    assert (status, error, finished) == ("completed", None, True)
    assert json.loads(stats) == {"backfill_day": "2026-11-20", "run_id": run.run_id,
                                 "cluster": {"themes": 3}}


def test_a_run_that_raises_is_failed_with_the_error_and_the_error_propagates(con):
    with pytest.raises(RuntimeError, match="model gone"), open_run(con) as run:
        run.stats["ingest"] = {"fetched": 2}
        raise RuntimeError("model gone")
    status, stats, error, finished = row(con, run.run_id)
    assert (status, error, finished) == ("failed", "RuntimeError: model gone", True)
    assert json.loads(stats)["ingest"] == {"fetched": 2}


def test_latest_is_resolved_once_after_ingest_and_then_fixed(con):
    with open_run(con, as_of="latest") as run:
        add_item(con, "1", T0)  # ingest runs before anything reads as_of
        assert run.as_of == T0
        add_item(con, "2", T0 + timedelta(hours=5))
        assert run.as_of == T0  # cluster, rank and deliver all see the same instant


def test_now_is_one_clock_reading_for_the_whole_run(con):
    with open_run(con, as_of="now") as run:
        first = run.as_of
        assert first == run.as_of
    assert datetime.now(UTC) - first < timedelta(minutes=5)


def test_a_fixed_as_of_is_taken_as_utc_when_it_has_no_zone(con):
    naive = datetime(2026, 11, 18, 23, 59, 59)
    assert resolve_as_of(con, naive) == naive.replace(tzinfo=UTC)
    with open_run(con, as_of=T0) as run:
        add_item(con, "1", T0 + timedelta(days=3))
        assert run.as_of == T0


def test_latest_without_items_falls_back_to_now(con):
    assert datetime.now(UTC) - resolve_as_of(con, "latest") < timedelta(minutes=5)


def test_a_new_warehouse_and_its_log_are_owner_only(tmp_path):
    from feedback_pipeline.warehouse.db import connect

    con = connect(tmp_path / "new" / "wh.duckdb")
    con.execute("CREATE TABLE t (a INTEGER)")
    con.execute("INSERT INTO t VALUES (1)")  # the write-ahead log appears now

    modes = {p.name: p.stat().st_mode & 0o777 for p in [tmp_path / "new",
                                                        *(tmp_path / "new").iterdir()]}
    con.close()
    assert modes == {"new": 0o700, "wh.duckdb": 0o600, "wh.duckdb.wal": 0o600}


def _killed_run(path) -> str:
    """A child process opens a run in ``path`` and is SIGKILLed right after (no cleanup)."""
    code = ("from feedback_pipeline.warehouse.db import connect\n"
            "from feedback_pipeline.warehouse.runs import open_run\n"
            f"with open_run(connect(r'{path}'), flow_run_id='fr-1') as run:\n"
            "    print(run.run_id, flush=True)\n"
            "    raise SystemExit('not reached')\n")
    env = {**os.environ, "FP_CRASH_AT": "run.started"}
    child = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                           timeout=120)
    assert child.returncode == -signal.SIGKILL, child.stderr
    (run_id,) = duckdb.connect(str(path), read_only=True).execute(
        "SELECT run_id FROM runs").fetchone()
    return run_id


def test_a_killed_run_is_shown_crashed_by_readers_and_marked_crashed_by_the_next_writer(tmp_path):
    from feedback_pipeline.report.status import recent_runs

    path = tmp_path / "wh.duckdb"
    run_id = _killed_run(path)
    with closing(connect(path, read_only=True)) as reader:
        assert row(reader, run_id)[0] == "running"  # the dead process could not say otherwise
        (shown,) = recent_runs(reader)
    assert (shown["status"], shown["flow_run_id"]) == ("crashed", "fr-1")
    assert "ended without finishing the run" in shown["error"]

    with closing(connect(path)) as writer:  # anything opening it read-write
        status, _, error, finished = row(writer, run_id)
        assert (status, finished) == ("crashed", True)
        assert error.startswith("crashed: process ") and str(os.getpid()) not in error
        # This process's own run is never taken for a dead one.
        with open_run(writer) as run, closing(connect(path)) as again:
            assert row(again, run.run_id)[0] == "running"
        assert row(writer, run.run_id)[0] == "completed"


def test_an_interrupted_run_is_crashed_not_failed(con):
    with pytest.raises(KeyboardInterrupt), open_run(con) as run:
        raise KeyboardInterrupt
    status, _, error, _ = row(con, run.run_id)
    assert status == "crashed" and "KeyboardInterrupt" in error


def test_progress_is_saved_while_the_run_is_running(con):
    with open_run(con) as run:
        run.stats["ingest"] = {"fetched": 4}
        save_progress(con, run.run_id, run.stats)
        assert json.loads(row(con, run.run_id)[1])["ingest"] == {"fetched": 4}
