"""The pipeline's stages as plain functions over one warehouse connection.

The Prefect flow (``flows/nightly.py``) calls these one per task; the ``cluster`` command and the
benchmarks call them directly. Each returns a dict of counts that ends up in the ``runs`` table.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from functools import lru_cache

import duckdb

from .cleaning import clean_pending
from .config import EmbedConfig, Settings
from .deliver import deliver_dry_run
from .embed import CHUNK, MapChunks, SentenceTransformerEmbedder, embed_pending
from .errors import SinkError
from .ingest import author_salt, ingest
from .item_types import classify_pending
from .languages import is_multilingual
from .redact import redact_logs
from .rank import rank_themes, resolve_as_of
from .sources import build_sources
from .sinks.jira import JiraSink
from .sinks.slack import SlackDigestSink
from .cluster import min_cluster_size_for
from .incremental import needs_full_recluster, update_incrementally
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
    return run_id


def finish_run(con: duckdb.DuckDBPyConnection, run_id: str, stats: dict, *,
               error: str | None = None) -> None:
    con.execute(
        "UPDATE runs SET finished_at = ?, status = ?, stats = ?, error = ? WHERE run_id = ?",
        [datetime.now(UTC), "failed" if error else "completed", json.dumps(stats, default=str),
         error, run_id],
    )


def new_items_since_last_completed(con: duckdb.DuckDBPyConnection) -> int:
    """Items first seen by runs that did not complete (the current one included).

    This is what the digest calls new: after a run that crashed between ingest and deliver, the
    next run's digest still announces the items that run ingested.
    """
    return con.execute(
        "SELECT count(*) FROM items WHERE first_seen_run NOT IN "
        "(SELECT run_id FROM runs WHERE status = 'completed')").fetchone()[0]


def stage_ingest(con: duckdb.DuckDBPyConnection, settings: Settings, run_id: str) -> dict:
    stats = ingest(con, build_sources(settings), run_id=run_id,
                   salt=author_salt(settings.ingest.author_salt_env), clean=settings.clean)
    return stats.as_dict()


def stage_clean(con: duckdb.DuckDBPyConnection, settings: Settings) -> dict:
    return clean_pending(con, settings.clean)


def stage_embed(con: duckdb.DuckDBPyConnection, settings: Settings,
                progress: Callable[[int, int], None] | None = None,
                map_chunks: MapChunks | None = None) -> dict:
    """Embed pending texts, here or through ``map_chunks`` (scaleout.py), then classify types."""
    chunk_size = settings.embed.dask.chunk_size if map_chunks else CHUNK
    stats = embed_pending(con, embedder_for(settings), progress=progress, map_chunks=map_chunks,
                          chunk_size=chunk_size)
    # Types come from the cached vectors, so they are computed right after embedding.
    stats["types"] = classify_pending(con, embedder_for(settings))
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
            themes_config=settings.themes, label_config=settings.label, as_of=as_of)
    return {**stats, "as_of": as_of.isoformat()}


def stage_rank(con: duckdb.DuckDBPyConnection, settings: Settings, run_id: str, *,
               as_of: datetime | None = None) -> tuple[list[dict], datetime]:
    as_of = as_of or resolve_as_of(con, settings.rank)
    compute_trends(con, settings.trends, run_id=run_id, as_of=as_of)
    return rank_themes(con, settings.rank, run_id=run_id, as_of=as_of), as_of


def stage_deliver(con: duckdb.DuckDBPyConnection, settings: Settings, run_id: str,
                  ranking: list[dict], as_of: datetime, totals: dict) -> dict:
    # Live Jira/Slack delivery plugs in here; until configured, every run is a dry run.
    live_jira = not settings.deliver.dry_run and settings.deliver.jira.enabled
    # Live, the Jira sink owns the jira:theme:<id> outbox rows (pending -> sent), so the dry run
    # below records only the rest.
    dry = settings.deliver if not live_jira else settings.deliver.model_copy(
        update={"jira": settings.deliver.jira.model_copy(update={"top_n": 0})})
    stats = deliver_dry_run(con, ranking, dry, run_id=run_id, as_of=as_of, totals=totals)
    jira_failure: SinkError | None = None
    if live_jira:
        try:
            stats["jira"] = JiraSink(settings.deliver.jira).sync(
                con, ranking, run_id=run_id, as_of=as_of, embedder=embedder_for(settings))
            stats["jira_issues"] = stats["jira"]["issues"]
        except SinkError as exc:  # undelivered requests stay in the outbox; raised below
            jira_failure = exc
    if not settings.deliver.dry_run and settings.deliver.slack.enabled:
        # The outbox above already holds the digest: a Slack failure (SinkError) loses nothing.
        sink = SlackDigestSink(settings.deliver.slack, jira_server=settings.deliver.jira.server)
        stats["slack"] = sink.deliver(con, ranking, run_id=run_id, as_of=as_of, totals=totals)
    if jira_failure is not None:
        raise jira_failure
    return stats


__all__ = [
    "embedder_for", "finish_run", "new_items_since_last_completed", "stage_clean", "stage_cluster", "stage_deliver", "stage_embed",
    "stage_ingest", "stage_rank", "start_run",
]
