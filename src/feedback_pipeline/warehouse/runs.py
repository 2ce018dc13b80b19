"""The ``runs`` table: every run is opened and closed here, and resolves its ``as_of`` once.

``open_run`` is the one way a run is recorded (the nightly flow, a backfill's history run and
each of its days): it inserts the ``running`` row, hands out a :class:`Run` that stages add their
stats to, and marks the row ``completed`` or ``failed`` (with the error) however the block ends.

A run whose process died (SIGKILL, OOM killer, power cut) cannot mark its own row. Every row
names the process that runs it (``host:pid:token``); DuckDB lets only one process open the file
for writing, so whoever opens it read-write next knows that a ``running`` row of another process
is dead and marks it ``crashed`` (:func:`mark_crashed_runs`, called by ``db.connect``). Readers
cannot write, and show such rows as ``crashed`` too (:func:`shown_status`).
"""

from __future__ import annotations

import json
import os
import socket
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

import duckdb

from feedback_pipeline.crashpoints import crashpoint
from feedback_pipeline.redact import redact_logs

AsOf = Literal["now", "latest"] | datetime

# This process, as recorded in runs.process; the token tells a reused pid from the one that ran.
PROCESS = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def resolve_as_of(con: duckdb.DuckDBPyConnection, as_of: AsOf) -> datetime:
    """The moment a run ranks for: now, the newest item ('latest'), or a fixed time.

    'latest' never lies in the future of the run: ingest rejects records dated beyond a small
    tolerance past the run's clock, and an item dated within that tolerance (or stored by an
    older version) still yields at most now. The digest is keyed by this instant's date.
    """
    if isinstance(as_of, datetime):
        return as_of if as_of.tzinfo else as_of.replace(tzinfo=UTC)
    now = datetime.now(UTC)
    if as_of == "latest":
        row = con.execute("SELECT max(created_at) FROM items WHERE NOT deleted "
                          "AND created_at <= ?", [now]).fetchone()
        if row and row[0] is not None:
            return row[0].astimezone(UTC)
    return now


@dataclass
class Run:
    """One recorded run: its id, its stats (saved in ``runs.stats``) and its reference time."""

    con: duckdb.DuckDBPyConnection
    run_id: str
    as_of_setting: AsOf = "latest"
    stats: dict = field(default_factory=dict)
    _as_of: datetime | None = field(default=None, repr=False)
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def as_of(self) -> datetime:
        """Resolved on first use (after ingest, so 'latest' sees tonight's items), then fixed:
        every stage of the run ranks, clusters and dates its digest by the same instant."""
        if self._as_of is None:
            self._as_of = resolve_as_of(self.con, self.as_of_setting)
        return self._as_of

    @property
    def digest_as_of(self) -> datetime:
        """The instant the digest is dated and keyed by (``digest-<date>``): the run's own day.

        A fixed ``as_of`` (a replayed day, a simulated night) is that run's day; with 'latest'
        or 'now' it is the run's start, so tonight's digest is tonight's even when the newest item
        is days old: a quiet night never updates an older night's digest, and no record's date
        can key a digest in the future.
        """
        if isinstance(self.as_of_setting, datetime):
            return self.as_of
        return self.started_at

    @contextmanager
    def timed(self, stage: str) -> Iterator[None]:
        """Record the stage's wall time in ``stats["seconds"][stage]``, even when it fails."""
        with timed(self.stats, stage):
            yield


@contextmanager
def timed(stats: dict, stage: str) -> Iterator[None]:
    start = time.perf_counter()
    try:
        yield
    finally:
        stats.setdefault("seconds", {})[stage] = round(time.perf_counter() - start, 3)


def start_run(con: duckdb.DuckDBPyConnection, *, flow_run_id: str | None = None) -> str:
    """Insert a ``running`` row owned by this process; return its id. Prefer :func:`open_run`."""
    redact_logs()  # log lines of every stage (ours and Prefect's run loggers) go through redact()
    run_id = datetime.now(UTC).strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:6]
    now = datetime.now(UTC)
    con.execute("INSERT INTO runs (run_id, started_at, status, stats, process, flow_run_id, "
                "updated_at) VALUES (?, ?, 'running', '{}', ?, ?, ?)",
                [run_id, now, PROCESS, flow_run_id, now])
    crashpoint("run.started")
    return run_id


def save_progress(con: duckdb.DuckDBPyConnection, run_id: str, stats: dict) -> None:
    """Save a running run's stats so far (each stage as it finishes): a crash keeps them."""
    con.execute("UPDATE runs SET stats = ?, updated_at = ? WHERE run_id = ? AND status = "
                "'running'", [json.dumps(stats, default=str), datetime.now(UTC), run_id])


def mark_crashed_runs(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Mark ``crashed`` every ``running`` row of another process; return their run ids.

    Only valid on a read-write connection: holding DuckDB's write lock proves that no other
    process is still running those runs.
    """
    rows = con.execute("SELECT run_id, process, coalesce(updated_at, started_at) FROM runs "
                       "WHERE status = 'running' AND coalesce(process, '') <> ?",
                       [PROCESS]).fetchall()
    for run_id, process, last_seen in rows:
        con.execute("UPDATE runs SET status = 'crashed', finished_at = ?, error = ? "
                    "WHERE run_id = ?",
                    [last_seen, crashed_error(process, last_seen), run_id])
    return [r[0] for r in rows]


def crashed_error(process: str | None, last_seen: datetime | None) -> str:
    who = f"process {process.rsplit(':', 1)[0]}" if process else "its process"
    when = f" (last saved progress {last_seen:%Y-%m-%d %H:%M:%S %Z})" if last_seen else ""
    return (f"crashed: {who} ended without finishing the run{when}, killed or out of memory; "
            "the next run resumes from what was committed")


def shown_status(status: str, process: str | None) -> str:
    """The status to show for a row read without the write lock (``status``, reports).

    A reader got the file, so no other process holds the write lock: a ``running`` row of
    another process is a crash not yet marked.
    """
    return "crashed" if status == "running" and process != PROCESS else status


def finish_run(con: duckdb.DuckDBPyConnection, run_id: str, stats: dict, *,
               error: str | None = None, status: str | None = None) -> None:
    """Mark the run ``completed`` (or ``failed`` with ``error``) and save its stats."""
    if error is None:
        crashpoint("run.finishing")
    now = datetime.now(UTC)
    con.execute(
        "UPDATE runs SET finished_at = ?, status = ?, stats = ?, error = ?, updated_at = ? "
        "WHERE run_id = ?",
        [now, status or ("failed" if error else "completed"), json.dumps(stats, default=str),
         error, now, run_id],
    )


@contextmanager
def open_run(con: duckdb.DuckDBPyConnection, *, as_of: AsOf = "latest",
             stats: dict | None = None, flow_run_id: str | None = None) -> Iterator[Run]:
    """Record a run around the block; an exception marks it failed and propagates.

    Args:
        as_of: the ranking's reference time setting (``[rank] as_of``) or a fixed instant.
        stats: initial stats (e.g. a backfill's day); ``run_id`` is added.
        flow_run_id: the Prefect flow run this run is, when it is one.
    """
    run_id = start_run(con, flow_run_id=flow_run_id)
    started = con.execute("SELECT started_at FROM runs WHERE run_id = ?", [run_id]).fetchone()[0]
    run = Run(con, run_id, as_of, dict(stats or {}), started_at=started.astimezone(UTC))
    run.stats.setdefault("run_id", run.run_id)
    try:
        yield run
    except Exception as exc:
        finish_run(con, run.run_id, run.stats, error=f"{type(exc).__name__}: {exc}")
        raise
    except BaseException as exc:
        # Ctrl-C, SystemExit, Prefect's termination signal: Prefect calls these Crashed too.
        finish_run(con, run.run_id, run.stats, status="crashed",
                   error=f"crashed: interrupted ({type(exc).__name__}: {exc})")
        raise
    finish_run(con, run.run_id, run.stats)


# Runs whose items a digest before the day ``?`` announced: the digest's "new" is every item
# first stored by any other run (one that crashed included); a rerun of the same digest date
# counts its items as new again, so rerunning a night repeats its digest.
ANNOUNCED_RUNS = ("SELECT run_id FROM runs WHERE status = 'completed' AND "
                  "coalesce(json_extract_string(stats, '$.deliver.digest_date'), "
                  "left(json_extract_string(stats, '$.rank.as_of'), 10), '') < ?")


def digest_day(as_of: datetime | None) -> str:
    """The parameter of :data:`ANNOUNCED_RUNS` for a digest dated ``as_of``."""
    return f"{as_of:%Y-%m-%d}" if as_of else "9999-12-31"


__all__ = ["ANNOUNCED_RUNS", "PROCESS", "AsOf", "Run", "crashed_error", "digest_day", "finish_run",
           "mark_crashed_runs", "open_run", "resolve_as_of",
           "save_progress", "shown_status", "start_run", "timed"]
