"""The nightly flow: pull -> clean -> embed -> cluster -> rank -> deliver.

Thin on purpose: every task calls one stage function of ``feedback_pipeline.pipeline``.
Run it as a plain script (``python flows/nightly.py``) or through ``feedback-pipeline run``.
"""

from __future__ import annotations

import os
from datetime import datetime

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")

from prefect import flow, get_run_logger, task  # noqa: E402
from prefect.artifacts import create_markdown_artifact  # noqa: E402
from prefect.cache_policies import NONE  # noqa: E402

from feedback_pipeline import pipeline  # noqa: E402
from feedback_pipeline.alerts import on_flow_failure  # noqa: E402
from feedback_pipeline.config import Settings, load_settings  # noqa: E402
from feedback_pipeline.db import connect  # noqa: E402
from feedback_pipeline.report import ranking_markdown  # noqa: E402
from feedback_pipeline.scaleout import chunk_mapper  # noqa: E402
from feedback_pipeline.status import progress_bar, run_summary_markdown  # noqa: E402


@task(name="ingest", retries=2, retry_delay_seconds=[10, 60], cache_policy=NONE)
def ingest(con, settings: Settings, run_id: str) -> dict:
    stats = pipeline.stage_ingest(con, settings, run_id)
    get_run_logger().info("ingest: %(fetched)d fetched, %(new)d new, %(changed)d changed, "
                          "%(rejected)d rejected", stats)
    return stats


@task(name="clean", cache_policy=NONE)
def clean(con, settings: Settings) -> dict:
    stats = pipeline.stage_clean(con, settings)
    get_run_logger().info("clean: %(cleaned)d cleaned, %(kept)d kept, dropped %(dropped)s", stats)
    return stats


@task(name="embed", cache_policy=NONE)
def embed(con, settings: Settings) -> dict:
    # Chunks fan out to Dask with [embed.dask] enabled; a progress bar only in a terminal.
    with chunk_mapper(settings.embed) as mapper, progress_bar("embedding") as progress:
        stats = pipeline.stage_embed(con, settings, progress=progress, map_chunks=mapper)
    if mapper is not None:
        stats["dask"] = mapper.summary()
    get_run_logger().info("embed: %(embedded)d texts embedded with %(model)s; types %(types)s",
                          stats)
    return stats


@task(name="cluster", cache_policy=NONE)
def cluster(con, settings: Settings, run_id: str, full: bool) -> dict:
    stats = pipeline.stage_cluster(con, settings, run_id, full=full)
    get_run_logger().info("cluster (%(mode)s): %(themes)d themes over %(items)d items, "
                          "%(noise_items)d noise, %(new_themes)d new themes", stats)
    return stats


@task(name="rank", cache_policy=NONE)
def rank(con, settings: Settings, run_id: str) -> tuple[list[dict], datetime]:
    ranking, as_of = pipeline.stage_rank(con, settings, run_id)
    get_run_logger().info("rank: %d themes ranked as of %s", len(ranking), as_of.isoformat())
    return ranking, as_of


@task(name="deliver", retries=2, retry_delay_seconds=[10, 60], cache_policy=NONE)
def deliver(con, settings: Settings, run_id: str, ranking: list[dict], as_of: datetime,
            totals: dict) -> dict:
    stats = pipeline.stage_deliver(con, settings, run_id, ranking, as_of, totals)
    get_run_logger().info("deliver: %(jira_issues)d Jira issues, %(slack_digests)d digest "
                          "(%(created)d created, %(updated)d updated, %(unchanged)d unchanged)",
                          stats)
    return stats


# A failed or crashed run posts a short Slack alert when [alerts] is enabled (alerts.py).
@flow(name="nightly-feedback", log_prints=True, on_failure=[on_flow_failure],
      on_crashed=[on_flow_failure])
def nightly(config_path: str | None = None, warehouse: str | None = None,
            dry_run: bool = True, full_recluster: bool = False) -> dict:
    """Pull, clean, embed, cluster, rank and deliver customer feedback."""
    settings = load_settings(config_path, warehouse=warehouse)
    settings.deliver.dry_run = dry_run or settings.deliver.dry_run
    con = connect(settings.warehouse)
    run_id = pipeline.start_run(con)
    stats: dict = {"run_id": run_id}
    timed = pipeline.timed  # stats["seconds"][stage], shown by `feedback-pipeline status`
    try:
        with timed(stats, "ingest"):
            stats["ingest"] = ingest(con, settings, run_id)
        with timed(stats, "clean"):
            stats["clean"] = clean(con, settings)
        with timed(stats, "embed"):
            stats["embed"] = embed(con, settings)
        with timed(stats, "cluster"):
            stats["cluster"] = cluster(con, settings, run_id, full_recluster)
        with timed(stats, "rank"):
            ranking, as_of = rank(con, settings, run_id)
            stats["rank"] = {"ranked": len(ranking), "as_of": as_of.isoformat()}
        totals = {"items": stats["cluster"]["items"], "themes": len(ranking),
                  "new_items": pipeline.new_items_since_last_completed(con, as_of)}
        with timed(stats, "deliver"):
            stats["deliver"] = deliver(con, settings, run_id, ranking, as_of, totals)
        create_markdown_artifact(key="ranked-themes", markdown=ranking_markdown(ranking),
                                 description=f"Ranked themes of run {run_id}")
    except BaseException as exc:
        error = f"{type(exc).__name__}: {exc}"
        pipeline.finish_run(con, run_id, stats, error=error)
        con.close()
        create_markdown_artifact(key="run-summary", description=f"Run {run_id} (failed)",
                                 markdown=run_summary_markdown(run_id, stats, error=error))
        raise
    pipeline.finish_run(con, run_id, stats)
    con.close()
    create_markdown_artifact(key="run-summary", description=f"Stages of run {run_id}",
                             markdown=run_summary_markdown(run_id, stats))
    return stats


if __name__ == "__main__":
    import sys

    nightly(config_path=sys.argv[1] if len(sys.argv) > 1 else None)
