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

from . import pipeline
from .config import Settings


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


def backfill(
    con: duckdb.DuckDBPyConnection, settings: Settings, *, since: date, until: date | None = None,
    progress: Callable[[Step, int], None] | None = None,
) -> list[Step]:
    """Replay every day from ``since`` to ``until`` (default: the newest item's day).

    Items must already be ingested, cleaned and embedded (``feedback-pipeline run`` does that);
    nothing is delivered for past days.
    """
    if until is None:
        newest = con.execute("SELECT max(created_at) FROM items").fetchone()[0]
        until = newest.astimezone(UTC).date() if newest else datetime.now(UTC).date()
    done = completed_days(con)
    days = [since + timedelta(days=n) for n in range((until - since).days + 1)]
    steps: list[Step] = []
    for day in days:
        if day in done:
            steps.append(Step(day, None, {}))
            continue
        as_of = datetime.combine(day, time(23, 59, 59), tzinfo=UTC)
        run_id = pipeline.start_run(con)
        stats: dict = {"backfill_day": day.isoformat()}
        try:
            stats["cluster"] = pipeline.stage_cluster(con, settings, run_id, as_of=as_of)
            ranking, _ = pipeline.stage_rank(con, settings, run_id, as_of=as_of)
            stats["rank"] = {"ranked": len(ranking), "as_of": as_of.isoformat()}
        except BaseException as exc:
            pipeline.finish_run(con, run_id, stats, error=f"{type(exc).__name__}: {exc}")
            raise
        pipeline.finish_run(con, run_id, stats)
        steps.append(Step(day, run_id, stats))
        if progress:
            progress(steps[-1], len(days))
    return steps


def assignments(con: duckdb.DuckDBPyConnection) -> dict[tuple[str, str], int]:
    return {(s, e): t for s, e, t in con.execute(
        "SELECT source, external_id, theme_id FROM item_themes").fetchall()}


def stability(before: dict[tuple[str, str], int], after: dict[tuple[str, str], int],
              con: duckdb.DuckDBPyConnection, run_id: str) -> dict:
    """How many items kept their theme from one night to the next, and whether every change
    is explained by a recorded event of that run linking the two themes (split, merge).

    Only items in a theme on both nights whose old theme still exists count.
    """
    status = dict(con.execute("SELECT theme_id, status FROM themes").fetchall())
    events = con.execute("SELECT theme_id, event, other_theme FROM theme_events WHERE run_id = ?",
                         [run_id]).fetchall()
    linked = {(t, o) for t, _, o in events if o is not None} | {
        (o, t) for t, _, o in events if o is not None}
    kept = changed = unexplained = 0
    lineage = {t for t, e, _ in events if e in ("split_from", "merged_into")} | {
        o for _, e, o in events if e in ("split_from", "merged_into")}
    for key, old in before.items():
        new = after.get(key)
        if old == -1 or new in (None, -1) or status.get(old) not in ("active", "rejected"):
            continue
        if new == old:
            kept += 1
            continue
        changed += 1
        if (old, new) not in linked:
            unexplained += 1
    total = kept + changed
    # Items whose move a split or merge explains leave the comparison: their cluster did not
    # survive as it was.
    explained = changed - unexplained
    stable_total = total - explained
    return {"comparable": total, "kept": kept, "changed": changed, "unexplained": unexplained,
            "lineage_themes": len(lineage),
            "kept_share": round(kept / total, 4) if total else 1.0,
            "kept_share_where_cluster_survives": round(kept / stable_total, 4) if stable_total
            else 1.0}


def night_summary(steps: list[Step]) -> str:
    return json.dumps([{"day": s.day.isoformat(), **s.stats.get("cluster", {})} for s in steps],
                      default=str)


__all__ = ["Step", "backfill", "completed_days", "stability"]
