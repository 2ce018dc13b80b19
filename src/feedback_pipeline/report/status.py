"""Observability: what the last runs did (``feedback-pipeline status``, the ``run-summary``
artifact) and progress bars for long local runs.

Everything here reads the warehouse (the ``runs`` table with its per-stage stats JSON and the
``stats.seconds`` timings written by :func:`warehouse.runs.timed`, ``rejected_items``,
``source_cursors``) or renders what a run returned; nothing writes.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import duckdb

from feedback_pipeline.markup import bound
from feedback_pipeline.redact import redact
from feedback_pipeline.warehouse import db
from feedback_pipeline.warehouse.runs import crashed_error, shown_status

STAGES = ("ingest", "clean", "embed", "cluster", "rank", "deliver")
Progress = Callable[[int, int], None]
ERROR_MAX = 2_000  # an error or cursor is bounded (to ~4x this) before redaction


def _scalars(stats: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in stats.items()
                     if not isinstance(v, dict | list) and k not in ("seconds", "as_of"))


def _counts(counts: dict) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(counts.items(), key=lambda kv: -kv[1])) or "none"


def stage_line(stage: str, stats: dict) -> str:
    """One line saying what a stage did, from the dict it returned (unknown stages: its scalars)."""
    s = stats
    if stage == "ingest" and "fetched" in s:
        line = (f"{s['fetched']} fetched, {s['new']} new, {s['changed']} changed, "
                f"{s['rejected']} rejected")
        if "stored" in s:  # runs recorded before the totals were kept lack them
            line += (f"; {s['fetched']} in = {s['stored']} stored + {s['rejected']} rejected + "
                     f"{s['superseded']} superseded")
        if s.get("failed_sources"):
            errors = s.get("errors", {})
            line += "; failed sources: " + ", ".join(
                f"{n} ({_clip(redact(errors[n]), 120)})" if n in errors else n
                for n in s["failed_sources"])
        if s.get("warnings"):
            line += "; {} warning(s): {}".format(
                len(s["warnings"]), "; ".join(_clip(redact(w), 120) for w in s["warnings"][:3]))
            line += " …" if len(s["warnings"]) > 3 else ""
        return line
    if stage == "clean" and "kept" in s:
        return f"{s['cleaned']} cleaned, {s['kept']} kept, dropped: {_counts(s.get('dropped', {}))}"
    if stage == "embed" and "embedded" in s:
        line = f"{s['embedded']} embedded ({s.get('model', '?')})"
        if s.get("dask"):
            line += f" on {s['dask']['workers']} Dask workers in {s['dask']['chunks']} chunks"
        return line
    if stage == "cluster" and "mode" in s:
        themes = s.get("themes", "?")
        noise = s.get("noise_items", "?")
        return (f"{s['mode']}: {themes} themes over {s.get('items', '?')} items, {noise} noise, "
                f"{s.get('new_themes', 0)} new themes")
    if stage == "rank" and "ranked" in s:
        return f"{s['ranked']} themes ranked as of {s.get('as_of', '?')}"
    if stage == "deliver" and "jira_issues" in s:
        line = (f"jira {s['jira_issues']} issues, slack {s['slack_digests']} digest(s); outbox "
                f"{s.get('created', 0)} created, {s.get('updated', 0)} updated, "
                f"{s.get('unchanged', 0)} unchanged")
        for sink in ("jira", "slack"):
            if isinstance(s.get(sink), dict):
                line += f"; live {sink}: {_scalars(s[sink])}"
        return line
    return _scalars(s)


def _stages(stats: dict) -> list[dict]:
    seconds = stats.get("seconds", {})
    names = [n for n in STAGES if n in stats or n in seconds]
    names += [n for n in stats if isinstance(stats[n], dict) and n not in STAGES
              and n != "seconds"]
    return [{"stage": n, "seconds": seconds.get(n),
             "summary": stage_line(n, stats[n]) if isinstance(stats.get(n), dict)
             else "did not finish"} for n in names]


def recent_runs(con: duckdb.DuckDBPyConnection, limit: int = 10) -> list[dict]:
    """The last ``limit`` runs, newest first, with duration, per-stage summaries and error."""
    rows = con.execute(
        "SELECT run_id, started_at, finished_at, status, stats, error, process, flow_run_id, "
        "coalesce(updated_at, started_at) FROM runs ORDER BY started_at DESC LIMIT ?",
        [limit]).fetchall()
    runs = []
    for run_id, started, finished, status, raw, error, process, flow_run_id, seen in rows:
        stats = json.loads(raw) if raw else {}
        shown = shown_status(status, process)
        if shown != status:  # read-only: a dead run db.connect has not marked yet
            finished, error = seen, crashed_error(process, seen)
        end = finished or datetime.now(UTC)
        runs.append({
            "run_id": run_id, "status": shown, "flow_run_id": flow_run_id,
            "started_at": started.isoformat(), "finished_at": finished.isoformat() if finished
            else None,
            "seconds": round((end - started).total_seconds(), 1),
            "backfill_day": stats.get("backfill_day"),
            "stages": _stages(stats),
            "error": redact(bound(error, ERROR_MAX)) if error else None,
        })
    return runs


def warehouse_status(con: duckdb.DuckDBPyConnection, limit: int = 10) -> dict:
    """Runs, rejected records per source and connector cursors (tables that exist)."""
    tables = db.tables(con)
    report: dict = {"runs": recent_runs(con, limit) if "runs" in tables else [],
                    "rejected": [], "cursors": []}
    if "rejected_items" in tables:
        report["rejected"] = [
            {"source": s, "records": n, "last_rejected_at": t.isoformat() if t else None}
            for s, n, t in con.execute(
                "SELECT source, count(*), max(rejected_at) FROM rejected_items "
                "GROUP BY source ORDER BY source").fetchall()]
    if "source_cursors" in tables:
        report["cursors"] = [
            {"source": s, "cursor": redact(bound(c, ERROR_MAX)) if c else c,
             "updated_at": t.isoformat() if t else None}
            for s, c, t in con.execute(
                "SELECT source, cursor, updated_at FROM source_cursors ORDER BY source").fetchall()]
    return report


def _secs(seconds: float | None) -> str:
    return f"{seconds:7.1f} s" if seconds is not None else f"{'':>7}  "


def _clip(text: str, width: int = 60) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def status_table(report: dict) -> str:
    lines: list[str] = []
    if not report["runs"]:
        lines.append("no runs yet: run `feedback-pipeline run`")
    for run in report["runs"]:
        started = run["started_at"][:19].replace("T", " ")
        tag = f"  backfill {run['backfill_day']}" if run["backfill_day"] else ""
        prefect = f"  prefect {run['flow_run_id']}" if run.get("flow_run_id") else ""
        lines.append(f"run {run['run_id']}  {run['status']:<9}  started {started}  "
                     f"took {run['seconds']:.1f} s{tag}{prefect}")
        for st in run["stages"]:
            lines.append(f"  {st['stage']:<8}{_secs(st['seconds'])}  {st['summary']}")
        if run["error"]:
            lines.append(f"  error: {run['error']}")
    total = sum(r["records"] for r in report["rejected"])
    lines.append("")
    lines.append(f"rejected records: {total}" + (
        " (" + ", ".join(f"{r['source']} {r['records']}" for r in report["rejected"]) + ")"
        if total else ""))
    if report["cursors"]:
        lines.append("source cursors:")
        for c in report["cursors"]:
            updated = (c["updated_at"] or "")[:19].replace("T", " ")
            lines.append(f"  {c['source']:<12} {updated}  {_clip(str(c['cursor']))}")
    return "\n".join(lines)


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def _shown(text: str | None, width: int) -> str:
    """Redacted, control characters escaped (a rejected record may hold terminal escapes)."""
    text = _CONTROL.sub(lambda m: repr(m.group())[1:-1], redact(text or ""))
    return _clip(text, width)


def rejected_records(con: duckdb.DuckDBPyConnection, *, source: str | None = None,
                     since: datetime | None = None, limit: int = 100) -> list[dict]:
    """Rejected records, newest first, with where they were and why (raw: a redacted prefix)."""
    where, params = [], []
    if source:
        where.append("source = ?")
        params.append(source)
    if since:
        where.append("rejected_at >= ?")
        params.append(since if since.tzinfo else since.replace(tzinfo=UTC))
    rows = con.execute(
        "SELECT source, position, external_id, reason, left(raw, 200), run_id, rejected_at "
        f"FROM rejected_items {'WHERE ' + ' AND '.join(where) if where else ''} "
        "ORDER BY rejected_at DESC, source, position LIMIT ?", [*params, limit]).fetchall()
    return [{"source": s, "position": pos, "external_id": ext, "reason": redact(reason),
             "raw": redact(raw or ""), "run_id": run, "rejected_at": at.isoformat()}
            for s, pos, ext, reason, raw, run, at in rows]


def rejected_table(rows: list[dict]) -> str:
    if not rows:
        return "no rejected records"
    lines = []
    for r in rows:
        lines.append(f"{r['rejected_at'][:19].replace('T', ' ')}  {_shown(r['source'], 20)}  "
                     f"{_shown(r['position'], 40)}"
                     + (f"  id {_shown(r['external_id'], 30)}" if r["external_id"] else ""))
        lines.append(f"  why: {_shown(r['reason'], 200)}")
        lines.append(f"  raw: {_shown(r['raw'], 100)}")
    lines.append(f"{len(rows)} rejected record(s)")
    return "\n".join(lines)


def status_json(report: dict) -> str:
    return json.dumps(report, indent=2, ensure_ascii=False, default=str)


def run_summary_markdown(run_id: str, stats: dict, *, error: str | None = None) -> str:
    """The ``run-summary`` artifact: one row per stage with its time and what it did."""
    status = "failed" if error else "completed"
    rows = [f"**Run {run_id}: {status}**", "", "| stage | seconds | what it did |",
            "|---|---|---|"]
    for st in _stages(stats):
        seconds = f"{st['seconds']:.1f}" if st["seconds"] is not None else ""
        rows.append(f"| {st['stage']} | {seconds} | {redact(st['summary']).replace('|', '/')} |")
    if error:
        rows += ["", "Error: `" + redact(bound(error, ERROR_MAX)).replace("`", "'") + "`"]
    return "\n".join(rows)


@contextmanager
def progress_bar(description: str, *, enabled: bool | None = None) -> Iterator[Progress | None]:
    """A rich progress bar on stderr, as a ``progress(done, total)`` callback.

    ``enabled=None``: only when stderr is a terminal (a local run), so scheduled runs and logs
    stay clean. Yields None when disabled; callers pass it on as "no progress callback".
    """
    if enabled is None:
        enabled = sys.stderr.isatty()
    if not enabled:
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
    from rich.progress import Progress as Bar

    with Bar(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
             TimeElapsedColumn(), console=Console(stderr=True),
             transient=False) as bar:
        task = bar.add_task(description, total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield update


__all__ = ["progress_bar", "recent_runs", "rejected_records", "rejected_table",
           "run_summary_markdown", "stage_line", "status_json", "status_table",
           "warehouse_status"]
