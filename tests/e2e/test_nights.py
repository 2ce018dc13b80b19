"""Ten simulated nights on the demo data: theme ids stay stable and changes are explained."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from feedback_pipeline import pipeline
from feedback_pipeline.backfill import assignments, backfill, completed_days, stability
from feedback_pipeline.config import load_settings
from feedback_pipeline.warehouse.db import connect
from feedback_pipeline.warehouse.runs import open_run

from .conftest import DEMO

pytestmark = pytest.mark.slow

MIN_COMPARED = 500  # of the ~1,300 demo items clustered by the last days
FULL_NIGHT_KEPT_FLOOR = 0.78  # measured 0.80 (1,071 of 1,335 items kept their id)


def test_ten_nights_keep_theme_ids(tmp_path, embedder):
    settings = load_settings(None, warehouse=str(tmp_path / "wh.duckdb"))
    settings.sources[0].path = DEMO
    con = connect(settings.warehouse)
    with open_run(con, as_of=settings.rank.as_of) as run:
        pipeline.stage_ingest(run, settings)
        pipeline.stage_clean(run, settings)
        pipeline.stage_embed(run, settings)
    last = con.execute("SELECT max(created_at) FROM items").fetchone()[0].date()

    nights: list[dict] = []
    previous: dict = {}

    def after_night(step, _total):
        nonlocal previous
        now = assignments(con)
        if previous:
            nights.append({"day": str(step.day), "mode": step.stats["cluster"]["mode"],
                           **stability(previous, now, con, step.run_id)})
        previous = now

    steps = backfill(con, settings, since=last - timedelta(days=9), until=last,
                     progress=after_night)
    assert len(steps) == 10 and all(s.run_id for s in steps)
    modes = [s.stats["cluster"]["mode"] for s in steps]
    assert modes[0] == "full" and "incremental" in modes
    print(json.dumps(nights, indent=1))
    # The full re-cluster night is where identity is at stake: every item clustered the night
    # before is compared, members of merged or faded themes count as changed.
    full = [n for n in nights if n["mode"] == "full"]
    assert full, "the schedule re-clusters in full within ten nights"
    for night in full:
        assert night["comparable"] >= MIN_COMPARED, night
        assert night["kept_share"] >= FULL_NIGHT_KEPT_FLOOR, night
    incremental = [n for n in nights if n["mode"] == "incremental"]
    assert incremental and all(n["comparable"] >= MIN_COMPARED for n in incremental)
    assert all(n["kept_share"] == 1.0 for n in incremental), incremental
    # Every night has a ranking of its own.
    for s in steps:
        ranked = con.execute("SELECT count(*) FROM theme_scores WHERE run_id = ?",
                             [s.run_id]).fetchone()[0]
        assert ranked >= 10

    # An interrupted backfill resumes: every day is done, so a rerun replays nothing.
    assert len(completed_days(con)) == 10
    again = backfill(con, settings, since=last - timedelta(days=9), until=last)
    assert [s.run_id for s in again] == [None] * 10
