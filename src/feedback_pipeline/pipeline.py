"""The pipeline's stages as plain functions over one warehouse connection.

The Prefect flow (``flows/nightly.py``) calls these one per task; the ``cluster`` command and the
benchmarks call them directly. Each returns a dict of counts that ends up in the ``runs`` table.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache

import duckdb

from .cleaning import clean_pending
from .cluster import min_cluster_size_for
from .config import EmbedConfig, Settings
from .crashpoints import crashpoint
from .deliver import deliver_dry_run
from .embed import CHUNK, MapChunks, SentenceTransformerEmbedder, embed_pending
from .errors import ConfigError, SinkError
from .incremental import needs_full_recluster, update_incrementally
from .ingest import author_salt, ingest
from .item_types import classify_pending
from .languages import is_multilingual
from .rank import rank_themes, resolve_as_of
from .redact import redact_logs
from .sinks.jira import JiraSink
from .sinks.slack import SlackDigestSink
from .sources import build_sources
from .themes import cluster_corpus, save_clustering
from .trends import compute_trends


@lru_cache(maxsize=4)
def get_embedder(config_json: str) -> SentenceTransformerEmbedder:
    """One loaded model per process and configuration (loading costs seconds)."""
    return SentenceTransformerEmbedder(EmbedConfig.model_validate_json(config_json))


def embedder_for(settings: Settings) -> SentenceTransformerEmbedder:
    return get_embedder(settings.embed.model_dump_json())


def start_run(con: duckdb.DuckDBPyConnection) -> str:
    redact_logs()  # log lines of every stage (ours and Prefect's run loggers) go through redact()
    run_id = datetime.now(UTC).strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:6]
    con.execute("INSERT INTO runs (run_id, started_at, status, stats) VALUES (?, ?, 'running', '{}')",
                [run_id, datetime.now(UTC)])
    crashpoint("run.started")
    return run_id


def finish_run(con: duckdb.DuckDBPyConnection, run_id: str, stats: dict, *,
               error: str | None = None) -> None:
    if error is None:
        crashpoint("run.finishing")
    con.execute(
        "UPDATE runs SET finished_at = ?, status = ?, stats = ?, error = ? WHERE run_id = ?",
        [datetime.now(UTC), "failed" if error else "completed", json.dumps(stats, default=str),
         error, run_id],
    )


@contextmanager
def timed(stats: dict, stage: str) -> Iterator[None]:
    """Record the stage's wall time in ``stats["seconds"][stage]``, even when it fails."""
    start = time.perf_counter()
    try:
        yield
    finally:
        stats.setdefault("seconds", {})[stage] = round(time.perf_counter() - start, 3)


def new_items_since_last_completed(con: duckdb.DuckDBPyConnection,
                                   as_of: datetime | None = None) -> int:
    """Items first seen by runs that did not complete (the current one included).

    This is what the digest calls new: after a run that crashed between ingest and deliver, the
    next run's digest still announces the items that run ingested. With ``as_of``, runs that
    completed for the same digest date count as not yet announced too: rerunning a night
    repeats its digest instead of turning it into "nothing new".
    """
    day = f"{as_of:%Y-%m-%d}" if as_of else "9999-12-31"
    return con.execute(
        "SELECT count(*) FROM items WHERE first_seen_run NOT IN "
        "(SELECT run_id FROM runs WHERE status = 'completed' AND "
        "coalesce(left(json_extract_string(stats, '$.rank.as_of'), 10), '') < ?)",
        [day]).fetchone()[0]


def stage_ingest(con: duckdb.DuckDBPyConnection, settings: Settings, run_id: str) -> dict:
    stats = ingest(con, build_sources(settings), run_id=run_id,
                   salt=author_salt(settings.ingest.author_salt_env), clean=settings.clean)
    crashpoint("ingest.done")
    return stats.as_dict()


def stage_clean(con: duckdb.DuckDBPyConnection, settings: Settings) -> dict:
    stats = clean_pending(con, settings.clean)
    crashpoint("clean.done")
    return stats


def stage_embed(con: duckdb.DuckDBPyConnection, settings: Settings,
                progress: Callable[[int, int], None] | None = None,
                map_chunks: MapChunks | None = None) -> dict:
    """Embed pending texts, here or through ``map_chunks`` (scaleout.py), then classify types."""
    # The same chunks on both paths: one model call per chunk, so the batches and thus the
    # vectors are bit-identical with and without Dask (different batches differ by ~1e-7, enough
    # to move a borderline item in or out of noise). CHUNK caps what one commit holds.
    stats = embed_pending(con, embedder_for(settings), progress=progress, map_chunks=map_chunks,
                          chunk_size=min(CHUNK, settings.embed.dask.chunk_size))
    # Types come from the cached vectors, so they are computed right after embedding.
    stats["types"] = classify_pending(con, embedder_for(settings))
    crashpoint("embed.done")
    return stats


def stage_cluster(con: duckdb.DuckDBPyConnection, settings: Settings, run_id: str, *,
                  full: bool = False, as_of: datetime | None = None) -> dict:
    """Full re-cluster when due (or asked for), else the incremental nightly path.

    Only items created up to ``as_of`` (default: the ranking's as-of time) are clustered, so a
    backfill replays history exactly as it happened.
    """
    as_of = as_of or resolve_as_of(con, settings.rank)
    if full or needs_full_recluster(con, settings.themes, now=as_of):
        clustering = cluster_corpus(con, settings.embed.model, settings.cluster, until=as_of,
                                    split_languages=not is_multilingual(settings.embed))
        stats = save_clustering(con, clustering, run_id=run_id, label_config=settings.label,
                                themes_config=settings.themes,
                                min_size=min_cluster_size_for(len(clustering.X), settings.cluster))
        stats.update(clustering.language_stats)
    else:
        stats = update_incrementally(
            con, settings.embed.model, run_id=run_id, cluster_config=settings.cluster,
            themes_config=settings.themes, label_config=settings.label, as_of=as_of,
            split_languages=not is_multilingual(settings.embed))
    crashpoint("cluster.done")
    return {**stats, "as_of": as_of.isoformat()}


def stage_rank(con: duckdb.DuckDBPyConnection, settings: Settings, run_id: str, *,
               as_of: datetime | None = None) -> tuple[list[dict], datetime]:
    as_of = as_of or resolve_as_of(con, settings.rank)
    compute_trends(con, settings.trends, run_id=run_id, as_of=as_of)
    ranking = rank_themes(con, settings.rank, run_id=run_id, as_of=as_of)
    crashpoint("rank.done")
    return ranking, as_of


def stage_deliver(con: duckdb.DuckDBPyConnection, settings: Settings, run_id: str,
                  ranking: list[dict], as_of: datetime, totals: dict) -> dict:
    # Live Jira/Slack delivery plugs in here; until configured, every run is a dry run.
    live_jira = not settings.deliver.dry_run and settings.deliver.jira.enabled
    # Live, the Jira sink owns the jira:theme:<id> outbox rows (pending -> sent), so the dry run
    # below records only the rest.
    dry = settings.deliver if not live_jira else settings.deliver.model_copy(
        update={"jira": settings.deliver.jira.model_copy(update={"top_n": 0})})
    jira_failure: SinkError | None = None
    jira_stats: dict = {}
    if live_jira:
        try:
            jira_stats["jira"] = JiraSink(settings.deliver.jira).sync(
                con, ranking, run_id=run_id, as_of=as_of, embedder=embedder_for(settings))
            jira_stats["jira_issues"] = jira_stats["jira"]["issues"]
        except SinkError as exc:  # undelivered requests stay in the outbox; raised below
            jira_failure = exc
    # After the Jira sync, so the outbox digest carries the issue links the live digest has (a
    # rerun after a crash would otherwise write a different file than an uninterrupted run).
    stats = {**deliver_dry_run(con, ranking, dry, run_id=run_id, as_of=as_of, totals=totals),
             **jira_stats}
    crashpoint("deliver.outbox.recorded")
    if not settings.deliver.dry_run and settings.deliver.slack.enabled:
        # The outbox above already holds the digest: a Slack failure (SinkError) loses nothing.
        sink = SlackDigestSink(settings.deliver.slack, jira_server=settings.deliver.jira.server)
        stats["slack"] = sink.deliver(con, ranking, run_id=run_id, as_of=as_of, totals=totals)
    if jira_failure is not None:
        raise jira_failure
    crashpoint("deliver.done")
    return stats


def prepare_history(con: duckdb.DuckDBPyConnection, settings: Settings, *,
                    progress: Callable[[int, int], None] | None = None) -> dict:
    """Ingest, clean and embed every record, as one recorded run that clusters and delivers
    nothing: what a backfill (``replay.backfill``) needs before it replays the days."""
    run_id = start_run(con)
    stats: dict = {"run_id": run_id}
    try:
        with timed(stats, "ingest"):
            stats["ingest"] = stage_ingest(con, settings, run_id)
        with timed(stats, "clean"):
            stats["clean"] = stage_clean(con, settings)
        with timed(stats, "embed"):
            stats["embed"] = stage_embed(con, settings, progress=progress)
    except BaseException as exc:
        finish_run(con, run_id, stats, error=f"{type(exc).__name__}: {exc}")
        raise
    finish_run(con, run_id, stats)
    return stats


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
    from .replay import completed_days  # replay imports this module

    done = completed_days(con)
    pending = [d for d in (date.fromordinal(n) for n in range(since.toordinal(),
                                                              until.toordinal() + 1))
               if d not in done]
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


__all__ = [
    "check_backfill", "embedder_for", "finish_run", "last_day", "new_items_since_last_completed",
    "prepare_history", "stage_clean", "stage_cluster", "stage_deliver", "stage_embed",
    "stage_ingest", "stage_rank", "start_run", "timed",
]
