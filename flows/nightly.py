"""The nightly flow: ingest -> clean -> embed -> cluster -> rank -> deliver.

Thin on purpose: every task calls one stage function of ``feedback_pipeline.pipeline`` for the
run opened once by :func:`recorded_run`. Run it as a plain script (``python flows/nightly.py``)
or through ``feedback-pipeline run``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import closing, contextmanager

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")

from prefect import flow, get_run_logger, task  # noqa: E402
from prefect.artifacts import create_markdown_artifact  # noqa: E402
from prefect.cache_policies import NONE  # noqa: E402

from feedback_pipeline import pipeline  # noqa: E402
from feedback_pipeline.config import Settings, load_settings  # noqa: E402
from feedback_pipeline.report.status import progress_bar, run_summary_markdown  # noqa: E402
from feedback_pipeline.report.terminal import ranking_markdown  # noqa: E402
from feedback_pipeline.warehouse.db import connect  # noqa: E402
from feedback_pipeline.warehouse.runs import Run, open_run  # noqa: E402
from feedback_pipeline_flows.alerts import on_flow_failure  # noqa: E402
from feedback_pipeline_flows.dask import chunk_mapper  # noqa: E402

# Tasks share the run's warehouse connection, which cannot be hashed for a cache key.


@task(name="ingest", retries=2, retry_delay_seconds=[10, 60], cache_policy=NONE)
def ingest(run: Run, settings: Settings) -> dict:
    stats = pipeline.stage_ingest(run, settings)
    get_run_logger().info("ingest: %(fetched)d fetched, %(new)d new, %(changed)d changed, "
                          "%(rejected)d rejected", stats)
    return stats


@task(name="clean", cache_policy=NONE)
def clean(run: Run, settings: Settings) -> dict:
    stats = pipeline.stage_clean(run, settings)
    get_run_logger().info("clean: %(cleaned)d cleaned, %(kept)d kept, dropped %(dropped)s", stats)
    return stats


@task(name="embed", cache_policy=NONE)
def embed(run: Run, settings: Settings) -> dict:
    # Chunks fan out to Dask with [embed.dask] enabled; a progress bar only in a terminal.
    with chunk_mapper(settings.embed) as mapper, progress_bar("embedding") as progress:
        stats = pipeline.stage_embed(run, settings, progress=progress, map_chunks=mapper)
    if mapper is not None:
        stats["dask"] = mapper.summary()
    get_run_logger().info("embed: %(embedded)d texts embedded with %(model)s; types %(types)s",
                          stats)
    return stats


@task(name="cluster", cache_policy=NONE)
def cluster(run: Run, settings: Settings, full: bool) -> dict:
    stats = pipeline.stage_cluster(run, settings, full=full)
    get_run_logger().info("cluster (%(mode)s): %(themes)d themes over %(items)d items, "
                          "%(noise_items)d noise, %(new_themes)d new themes", stats)
    return stats


@task(name="rank", cache_policy=NONE)
def rank(run: Run, settings: Settings) -> list[dict]:
    ranking = pipeline.stage_rank(run, settings)
    get_run_logger().info("rank: %d themes ranked as of %s", len(ranking), run.as_of.isoformat())
    return ranking


@task(name="deliver", retries=2, retry_delay_seconds=[10, 60], cache_policy=NONE)
def deliver(run: Run, settings: Settings, ranking: list[dict]) -> dict:
    stats = pipeline.stage_deliver(run, settings, ranking)
    get_run_logger().info("deliver: %(jira_issues)d Jira issues, %(slack_digests)d digest "
                          "(%(created)d created, %(updated)d updated, %(unchanged)d unchanged)",
                          stats)
    return stats


@contextmanager
def recorded_run(settings: Settings) -> Iterator[Run]:
    """The run's row in the warehouse and its ``run-summary`` artifact, however it ends."""
    with closing(connect(settings.warehouse)) as con, \
            open_run(con, as_of=settings.rank.as_of) as run:
        try:
            yield run
        except BaseException as exc:
            create_markdown_artifact(
                key="run-summary", description=f"Run {run.run_id} (failed)",
                markdown=run_summary_markdown(run.run_id, run.stats,
                                              error=f"{type(exc).__name__}: {exc}"))
            raise
    create_markdown_artifact(key="run-summary", description=f"Stages of run {run.run_id}",
                             markdown=run_summary_markdown(run.run_id, run.stats))


# A failed or crashed run posts a short Slack alert when [alerts] is enabled (flows/alerts.py).
@flow(name="nightly-feedback", log_prints=True, on_failure=[on_flow_failure],
      on_crashed=[on_flow_failure])
def nightly(config_path: str | None = None, warehouse: str | None = None,
            dry_run: bool = True, full_recluster: bool = False) -> dict:
    """Pull, clean, embed, cluster, rank and deliver customer feedback."""
    settings = load_settings(config_path, warehouse=warehouse)
    settings.deliver.dry_run = dry_run or settings.deliver.dry_run
    # Stage wall times go to stats["seconds"], shown by `feedback-pipeline status`.
    with recorded_run(settings) as run:
        with run.timed("ingest"):
            run.stats["ingest"] = ingest(run, settings)
        with run.timed("clean"):
            run.stats["clean"] = clean(run, settings)
        with run.timed("embed"):
            run.stats["embed"] = embed(run, settings)
        with run.timed("cluster"):
            run.stats["cluster"] = cluster(run, settings, full_recluster)
        with run.timed("rank"):
            ranking = rank(run, settings)
            run.stats["rank"] = {"ranked": len(ranking), "as_of": run.as_of.isoformat()}
        with run.timed("deliver"):
            run.stats["deliver"] = deliver(run, settings, ranking)
        create_markdown_artifact(key="ranked-themes", markdown=ranking_markdown(ranking),
                                 description=f"Ranked themes of run {run.run_id}")
    return run.stats


if __name__ == "__main__":
    import sys

    nightly(config_path=sys.argv[1] if len(sys.argv) > 1 else None)
