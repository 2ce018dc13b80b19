"""The pipeline's stages, each a plain function of one recorded run and the settings.

The Prefect flow (``flows/nightly.py``) calls these one per task; the ``cluster`` command, the
backfill and the benchmarks call them directly. Each returns a dict of counts that ends up in the
``runs`` table. Every stage reads the run's one ``as_of`` (``warehouse.runs.Run``), so clustering,
ranking and delivery of one run never disagree on what "now" is.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict

from feedback_pipeline.authors import author_salt
from feedback_pipeline.clean.stage import clean_pending
from feedback_pipeline.cluster.corpus import cluster_corpus
from feedback_pipeline.cluster.identity import save_clustering
from feedback_pipeline.cluster.incremental import (
    last_full_clustering,
    needs_full_recluster,
    update_incrementally,
)
from feedback_pipeline.cluster.languages import is_multilingual
from feedback_pipeline.cluster.model import min_cluster_size_for
from feedback_pipeline.config import Settings
from feedback_pipeline.crashpoints import crashpoint
from feedback_pipeline.deliver.dry_run import OutboxFiles
from feedback_pipeline.deliver.jira import JiraSink
from feedback_pipeline.deliver.slack import SlackDigestSink
from feedback_pipeline.deliver.slack.config import bot_token, webhook_url
from feedback_pipeline.embed.embedder import Embedder, get_embedder
from feedback_pipeline.embed.item_types import classify_pending
from feedback_pipeline.embed.stage import CHUNK, MapChunks, embed_pending
from feedback_pipeline.errors import SinkError
from feedback_pipeline.ingest.accounts import load_accounts
from feedback_pipeline.ingest.connector import ConnectorSource
from feedback_pipeline.ingest.sources import build_sources
from feedback_pipeline.ingest.stage import SourceStats, ingest
from feedback_pipeline.rank.score import rank_themes
from feedback_pipeline.rank.trends import compute_trends
from feedback_pipeline.warehouse.runs import Run


def embedder_for(settings: Settings) -> Embedder:
    return get_embedder(settings.embed)


def check_credentials(settings: Settings) -> None:
    """Read every credential this run will use, now: a missing one fails the run at start-up
    (naming the variable and the Secret block) instead of as a quiet empty source at ingest.

    Raises:
        ConfigError: a connector's token, or (live delivery) a Jira or Slack secret is missing.
    """
    for source in build_sources(settings.sources, settings.ingest):
        if isinstance(source, ConnectorSource):
            source.credential()
    deliver = settings.deliver
    if deliver.dry_run:
        return
    if deliver.jira.enabled:
        deliver.jira.credentials()
    if deliver.slack.enabled:
        (bot_token if deliver.slack.mode == "bot" else webhook_url)(deliver.slack)


def stage_ingest(run: Run, settings: Settings) -> dict:
    # The date window is relative to this run's clock.
    rules = settings.ingest.rules(sources=[s.name for s in settings.sources])
    stats = ingest(run.con, build_sources(settings.sources, settings.ingest, rules),
                   run_id=run.run_id, salt=author_salt(settings.ingest.author_salt_env),
                   bots=settings.clean.bots(), rules=rules)
    out = stats.as_dict()
    # Accounts replace last night's whole; an unreadable file keeps them and fails like a source.
    out["accounts"] = load_accounts(run.con, settings.accounts, run_id=run.run_id,
                                    salt=author_salt(settings.accounts.pseudonym_salt_env),
                                    limits=settings.ingest)
    if "error" in out["accounts"]:  # named where every failed source is (flow, status, CLI)
        name, error = settings.accounts.name, out["accounts"]["error"]
        out["errors"][name] = error
        out["failed_sources"].append(name)
        out["by_source"][name] = {**asdict(SourceStats(error=error)), "stored": 0}
    crashpoint("ingest.done")
    return out


def stage_clean(run: Run, settings: Settings) -> dict:
    stats = clean_pending(run.con, settings.clean)
    crashpoint("clean.done")
    return stats


def stage_embed(run: Run, settings: Settings,
                progress: Callable[[int, int], None] | None = None,
                map_chunks: MapChunks | None = None) -> dict:
    """Embed pending texts, here or through ``map_chunks`` (``flows/dask.py``), then type them."""
    # The same chunks on both paths: one model call per chunk, so the batches and thus the
    # vectors are the same with and without Dask up to float rounding (different batches differ
    # by ~1e-7, enough to move a borderline item in or out of noise). CHUNK caps one commit.
    stats = embed_pending(run.con, embedder_for(settings), progress=progress,
                          map_chunks=map_chunks,
                          chunk_size=min(CHUNK, settings.embed.dask.chunk_size))
    # Types come from the cached vectors, so they are computed right after embedding.
    stats["types"] = classify_pending(run.con, embedder_for(settings))
    crashpoint("embed.done")
    return stats


def _title_embed(settings: Settings):  # noqa: ANN202 - label.Embed or None
    """The items' model for re-ranking title phrases, loaded only if a theme gets labelled."""
    if not settings.label.rerank_titles:
        return None
    return lambda texts: embedder_for(settings).embed(texts)


def stage_cluster(run: Run, settings: Settings, *, full: bool = False) -> dict:
    """Full re-cluster when due (or asked for), else the incremental nightly path.

    Only items created up to the run's ``as_of`` are clustered, so a backfill replays history
    exactly as it happened.
    """
    con, as_of = run.con, run.as_of
    split_languages = not is_multilingual(settings.embed)
    model_id = settings.embed.vector_key
    if full or needs_full_recluster(con, settings.themes, now=as_of, model_id=model_id):
        made_with = last_full_clustering(con)[1]  # centroids of another model's space?
        clustering = cluster_corpus(con, model_id, settings.cluster, until=as_of,
                                    split_languages=split_languages)
        stats = save_clustering(con, clustering, run_id=run.run_id, label_config=settings.label,
                                themes_config=settings.themes,
                                min_size=min_cluster_size_for(len(clustering.X), settings.cluster),
                                member_floor=settings.cluster.member_min_similarity,
                                embed=_title_embed(settings),
                                centroids_comparable=made_with in (None, model_id))
        stats.update(clustering.language_stats)
    else:
        stats = update_incrementally(
            con, model_id, run_id=run.run_id, cluster_config=settings.cluster,
            themes_config=settings.themes, label_config=settings.label, as_of=as_of,
            split_languages=split_languages, embed=_title_embed(settings))
    crashpoint("cluster.done")
    # The model is recorded so a later run with another one knows its centroids are stale.
    return {**stats, "as_of": as_of.isoformat(), "model": model_id}


def stage_rank(run: Run, settings: Settings) -> list[dict]:
    compute_trends(run.con, settings.trends, run_id=run.run_id, as_of=run.as_of)
    ranking = rank_themes(run.con, settings.rank, run_id=run.run_id, as_of=run.as_of)
    crashpoint("rank.done")
    return ranking


def stage_deliver(run: Run, settings: Settings, ranking: list[dict]) -> dict:
    """Jira (live), the outbox files (always), then Slack (live); one verb for every sink.

    The outbox files come after the Jira sync, so the outbox digest carries the issue links the
    live digest has (a rerun after a crash would otherwise write a different file than an
    uninterrupted run), and before Slack, so a Slack failure loses nothing.
    """
    deliver = settings.deliver
    # A theme that needs review (rank.min_coherence) is shown in the report, never sent.
    ranking = [t for t in ranking if not t.get("needs_review")]
    live_jira = not deliver.dry_run and deliver.jira.enabled
    stats: dict = {}
    jira_failure: SinkError | None = None
    if live_jira:
        try:
            stats["jira"] = JiraSink(deliver.jira, embedder=embedder_for(settings)).deliver(
                run, ranking)
            stats["jira_issues"] = stats["jira"]["issues"]
        except SinkError as exc:  # undelivered requests stay in the outbox; raised below
            jira_failure = exc
    # Live, the Jira sink owns the jira:theme:<id> outbox rows (pending -> sent), so the files
    # record only the rest.
    files = OutboxFiles(deliver, jira=not live_jira, pulse=settings.pulse)
    stats = {**files.deliver(run, ranking), **stats}
    crashpoint("deliver.outbox.recorded")
    if not deliver.dry_run and deliver.slack.enabled:
        sink = SlackDigestSink(deliver.slack, jira_server=deliver.jira.server,
                               pulse=settings.pulse)
        stats["slack"] = sink.deliver(run, ranking)
    stats["digest_date"] = f"{run.digest_as_of:%Y-%m-%d}"
    if jira_failure is not None:
        raise jira_failure
    crashpoint("deliver.done")
    return stats


__all__ = [
    "check_credentials", "embedder_for", "stage_clean", "stage_cluster", "stage_deliver", "stage_embed",
    "stage_ingest", "stage_rank",
]
