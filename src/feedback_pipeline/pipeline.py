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
from .embed import SentenceTransformerEmbedder, embed_pending
from .ingest import author_salt, ingest
from .rank import rank_themes, resolve_as_of
from .sources import build_sources
from .themes import cluster_corpus, save_clustering


@lru_cache(maxsize=4)
def get_embedder(config_json: str) -> SentenceTransformerEmbedder:
    """One loaded model per process and configuration (loading costs seconds)."""
    return SentenceTransformerEmbedder(EmbedConfig.model_validate_json(config_json))


def embedder_for(settings: Settings) -> SentenceTransformerEmbedder:
    return get_embedder(settings.embed.model_dump_json())


def start_run(con: duckdb.DuckDBPyConnection) -> str:
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


def stage_ingest(con: duckdb.DuckDBPyConnection, settings: Settings, run_id: str) -> dict:
    stats = ingest(con, build_sources(settings), run_id=run_id,
                   salt=author_salt(settings.ingest.author_salt_env), clean=settings.clean)
    return stats.as_dict()


def stage_clean(con: duckdb.DuckDBPyConnection, settings: Settings) -> dict:
    return clean_pending(con, settings.clean)


def stage_embed(con: duckdb.DuckDBPyConnection, settings: Settings,
                progress: Callable[[int, int], None] | None = None) -> dict:
    return embed_pending(con, embedder_for(settings), progress=progress)


def stage_cluster(con: duckdb.DuckDBPyConnection, settings: Settings, run_id: str) -> dict:
    clustering = cluster_corpus(con, settings.embed.model, settings.cluster)
    return save_clustering(con, clustering, run_id=run_id, label_config=settings.label)


def stage_rank(con: duckdb.DuckDBPyConnection, settings: Settings, run_id: str) -> tuple[list[dict], datetime]:
    as_of = resolve_as_of(con, settings.rank)
    return rank_themes(con, settings.rank, run_id=run_id, as_of=as_of), as_of


def stage_deliver(con: duckdb.DuckDBPyConnection, settings: Settings, run_id: str,
                  ranking: list[dict], as_of: datetime, totals: dict) -> dict:
    # Live Jira/Slack delivery plugs in here; until configured, every run is a dry run.
    return deliver_dry_run(con, ranking, settings.deliver, run_id=run_id, as_of=as_of,
                           totals=totals)


__all__ = [
    "embedder_for", "finish_run", "stage_clean", "stage_cluster", "stage_deliver", "stage_embed",
    "stage_ingest", "stage_rank", "start_run",
]
