"""Backfill: replay history night by night so themes, trends and rankings start with a past.

Each step is one simulated nightly run with ``as_of`` at the end of that day: only items created
by then are clustered (full re-cluster on the configured schedule, the incremental path between),
trends and ranking are computed as of then. Every completed step is a ``runs`` row tagged with its
day, so an interrupted backfill resumes at the first day without one.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

import duckdb

from feedback_pipeline import pipeline
from feedback_pipeline.config import Settings
from feedback_pipeline.errors import ConfigError
from feedback_pipeline.warehouse.runs import open_run


@dataclass
class Step:
    day: date
    run_id: str | None  # None: done by an earlier, interrupted backfill
    stats: dict


def completed_days(con: duckdb.DuckDBPyConnection) -> set[date]:
    rows = con.execute(
        "SELECT json_extract_string(stats, '$.backfill_day') FROM runs "
        "WHERE status = 'completed' AND json_extract_string(stats, '$.backfill_day') IS NOT NULL"
    ).fetchall()
    return {date.fromisoformat(r[0]) for r in rows}


def _days(since: date, until: date) -> list[date]:
    return [since + timedelta(days=n) for n in range((until - since).days + 1)]


def prepare_history(con: duckdb.DuckDBPyConnection, settings: Settings, *,
                    progress: Callable[[int, int], None] | None = None) -> dict:
    """Ingest, clean and embed every record, as one recorded run that clusters and delivers
    nothing: what a backfill needs before it replays the days."""
    with open_run(con, as_of=settings.rank.as_of) as run:
        with run.timed("ingest"):
            run.stats["ingest"] = pipeline.stage_ingest(run, settings)
        with run.timed("clean"):
            run.stats["clean"] = pipeline.stage_clean(run, settings)
        with run.timed("embed"):
            run.stats["embed"] = pipeline.stage_embed(run, settings, progress=progress)
    return run.stats


def last_day(con: duckdb.DuckDBPyConnection) -> date:
    """The newest item's day (UTC), where a backfill ends by default; today when empty."""
    newest = con.execute("SELECT max(created_at) FROM items").fetchone()[0]
    return newest.astimezone(UTC).date() if newest else datetime.now(UTC).date()


def check_backfill(con: duckdb.DuckDBPyConnection, *, since: date, until: date) -> None:
    """Refuse to replay days that a regular run has already clustered past.

    Themes built from later data would leak into the replayed past. Days an earlier backfill
    completed are skipped, so resuming (or re-running) a finished backfill is always allowed.

    Raises:
        ConfigError: a non-backfill run clustered items beyond the first day still to replay.
    """
    done = completed_days(con)
    pending = [d for d in _days(since, until) if d not in done]
    if not pending:
        return
    row = con.execute(
        "SELECT run_id, json_extract_string(stats, '$.cluster.as_of') AS as_of FROM runs "
        "WHERE status = 'completed' AND json_extract_string(stats, '$.backfill_day') IS NULL "
        "AND TRY_CAST(json_extract_string(stats, '$.cluster.as_of') AS TIMESTAMPTZ) >= ? "
        "ORDER BY as_of DESC LIMIT 1",
        [datetime.combine(pending[0] + timedelta(days=1), datetime.min.time(), tzinfo=UTC)],
    ).fetchone()
    if row:
        raise ConfigError(
            f"run {row[0]} already clustered items up to {row[1]}, after {pending[0]}, the first "
            "day to replay: backfill into a new warehouse (--warehouse) before the first nightly "
            "run, or start the backfill after that date")


def backfill(
    con: duckdb.DuckDBPyConnection, settings: Settings, *, since: date, until: date | None = None,
    progress: Callable[[Step, int], None] | None = None,
) -> list[Step]:
    """Replay every day from ``since`` to ``until`` (default: the newest item's day).

    Items must already be ingested, cleaned and embedded (:func:`prepare_history`); nothing is
    delivered for past days.
    """
    until = until or last_day(con)
    done = completed_days(con)
    days = _days(since, until)
    steps: list[Step] = []
    for day in days:
        if day in done:
            steps.append(Step(day, None, {}))
            continue
        as_of = datetime.combine(day, time(23, 59, 59), tzinfo=UTC)
        with open_run(con, as_of=as_of, stats={"backfill_day": day.isoformat()}) as run:
            run.stats["cluster"] = pipeline.stage_cluster(run, settings)
            ranking = pipeline.stage_rank(run, settings)
            run.stats["rank"] = {"ranked": len(ranking), "as_of": as_of.isoformat()}
        steps.append(Step(day, run.run_id, run.stats))
        if progress:
            progress(steps[-1], len(days))
    return steps


def assignments(con: duckdb.DuckDBPyConnection) -> dict[tuple[str, str], int]:
    return {(s, e): t for s, e, t in con.execute(
        "SELECT source, external_id, theme_id FROM item_themes").fetchall()}


def stability(before: dict[tuple[str, str], int], after: dict[tuple[str, str], int],
              con: duckdb.DuckDBPyConnection, run_id: str) -> dict:
    """How many items kept their theme id from one night to the next.

    Compared: every item that was in a theme the night before and is still there. It is kept
    only when it is in the same theme id tonight; a move to another theme or to noise counts as a
    change, and so do the members of a theme that merged or faded, whatever event of the run
    explains the move (``explained`` says how many of the changes a recorded split or merge of
    the run links; the clustering undoes the others, so it says nothing about stability).
    """
    status = dict(con.execute("SELECT theme_id, status FROM themes").fetchall())
    events = con.execute("SELECT theme_id, event, other_theme FROM theme_events WHERE run_id = ?",
                         [run_id]).fetchall()
    linked = {(t, o) for t, _, o in events if o is not None} | {
        (o, t) for t, _, o in events if o is not None}
    kept = to_noise = left_theme_gone = explained = 0
    compared = 0
    for key, old in before.items():
        new = after.get(key)
        if old == -1 or new is None:
            continue
        compared += 1
        if new == old:
            kept += 1
            continue
        if new == -1:
            to_noise += 1
        if status.get(old) in ("merged", "faded"):
            left_theme_gone += 1
        if (old, new) in linked:
            explained += 1
    changed = compared - kept
    return {"comparable": compared, "kept": kept, "changed": changed, "to_noise": to_noise,
            "from_merged_or_faded": left_theme_gone, "explained": explained,
            "kept_share": round(kept / compared, 4) if compared else None}


def night_summary(steps: list[Step]) -> str:
    return json.dumps([{"day": s.day.isoformat(), **s.stats.get("cluster", {})} for s in steps],
                      default=str)


__all__ = ["Step", "backfill", "check_backfill", "completed_days", "last_day", "prepare_history",
           "stability"]
