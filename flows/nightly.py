"""The nightly flow: ingest -> clean -> embed -> cluster -> rank -> deliver.

Thin on purpose: every task calls one stage function of ``feedback_pipeline.pipeline``. The flow
records the run (``recorded_run``: its ``runs`` row, with the Prefect flow-run id, and its
``run-summary`` artifact) and saves each stage's stats as the stage's task finishes; each task
opens its own warehouse connection from the :class:`RunRef` it is given, so no connection crosses
a task boundary (or reaches a Dask worker). Run it as a plain script
(``python flows/nightly.py [config.toml]``) or through ``feedback-pipeline run``.

What Prefect sees: a source that fails is an ERROR line in the run's logs, a
``feedback-pipeline.source.failed`` event and the message of the ingest task's and the run's
final state; when every source fails the run ends Failed. A missing credential fails the run
before ingest starts. The run stops (Failed) after ``[schedule] timeout_minutes``, the embed task
after ``[embed] timeout_minutes``, and a Dask chunk that does not come back fails embed
(``flows/dask.py``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NONE
from prefect.runtime import flow_run as current_flow_run
from prefect.states import Completed
from prefect.utilities.timeout import timeout

from feedback_pipeline import pipeline
from feedback_pipeline.config import Settings, load_settings
from feedback_pipeline.errors import SourceError
from feedback_pipeline.redact import redact
from feedback_pipeline.report.status import progress_bar, run_summary_markdown
from feedback_pipeline.report.terminal import ranking_markdown
from feedback_pipeline.warehouse.db import connect
from feedback_pipeline.warehouse.runs import AsOf, Run, open_run, save_progress
from feedback_pipeline_flows.alerts import on_flow_failure
from feedback_pipeline_flows.dask import chunk_mapper
from feedback_pipeline_flows.events import emit_source_failures
from feedback_pipeline_flows.retries import retry_if_transient


@dataclass(frozen=True)
class RunRef:
    """What a task needs to find its run: the warehouse file, the run's id, its ``as_of`` setting
    and start (which date the digest), and once ingest is done the instant the flow resolved."""

    warehouse: Path
    run_id: str
    as_of_setting: AsOf
    started_at: datetime
    as_of: datetime | None = None


@contextmanager
def opened(ref: RunRef, stats: dict | None = None) -> Iterator[Run]:
    """The run, on this task's own connection to the warehouse."""
    with closing(connect(ref.warehouse)) as con:
        yield Run(con, ref.run_id, ref.as_of_setting, dict(stats or {}), _as_of=ref.as_of,
                  started_at=ref.started_at)


# No result cache on any task: each one writes the warehouse, so a cached result would skip the
# writes. What is worth caching is cached in the warehouse itself (embeddings by text and model,
# unchanged files by their cursor).


@task(name="ingest", retries=2, retry_delay_seconds=[10, 60],
      retry_condition_fn=retry_if_transient, cache_policy=NONE)
def ingest(ref: RunRef, settings: Settings) -> dict | Completed:
    with opened(ref) as run:
        stats = pipeline.stage_ingest(run, settings)
    log = get_run_logger()
    log.info("ingest: %(fetched)d fetched, %(new)d new, %(changed)d changed, "
             "%(rejected)d rejected", stats)
    failed = {name: stats["by_source"][name]["error"] for name in stats["failed_sources"]}
    if not failed:
        return stats
    for name, error in failed.items():
        log.error("source %s failed: %s", name, redact(str(error)))
    emit_source_failures(failed, run_id=ref.run_id)
    return Completed(message=failed_sources_message(stats), data=stats)


def failed_sources_message(stats: dict) -> str:
    failed, total = stats["failed_sources"], len(stats["by_source"])
    return f"{len(failed)} of {total} sources failed: {', '.join(failed)}"


@task(name="clean", cache_policy=NONE)
def clean(ref: RunRef, settings: Settings) -> dict:
    with opened(ref) as run:
        stats = pipeline.stage_clean(run, settings)
    get_run_logger().info("clean: %(cleaned)d cleaned, %(kept)d kept, dropped %(dropped)s", stats)
    return stats


@task(name="embed", cache_policy=NONE)
def embed(ref: RunRef, settings: Settings) -> dict:
    # Chunks fan out to Dask with [embed.dask] enabled; a progress bar only in a terminal.
    with opened(ref) as run, chunk_mapper(settings.embed) as mapper, \
            progress_bar("embedding") as progress:
        stats = pipeline.stage_embed(run, settings, progress=progress, map_chunks=mapper)
    if mapper is not None:
        stats["dask"] = mapper.summary()
    get_run_logger().info("embed: %(embedded)d texts embedded with %(model)s; types %(types)s",
                          stats)
    return stats


@task(name="cluster", cache_policy=NONE)
def cluster(ref: RunRef, settings: Settings, full: bool) -> dict:
    with opened(ref) as run:
        stats = pipeline.stage_cluster(run, settings, full=full)
    get_run_logger().info("cluster (%(mode)s): %(themes)d themes over %(items)d items, "
                          "%(noise_items)d noise, %(new_themes)d new themes", stats)
    return stats


@task(name="rank", cache_policy=NONE)
def rank(ref: RunRef, settings: Settings) -> list[dict]:
    with opened(ref) as run:
        ranking = pipeline.stage_rank(run, settings)
    get_run_logger().info("rank: %d themes ranked as of %s", len(ranking), run.as_of.isoformat())
    return ranking


@task(name="deliver", retries=2, retry_delay_seconds=[10, 60],
      retry_condition_fn=retry_if_transient, cache_policy=NONE)
def deliver(ref: RunRef, settings: Settings, ranking: list[dict], stats: dict) -> dict:
    with opened(ref, stats) as run:
        delivered = pipeline.stage_deliver(run, settings, ranking)
    get_run_logger().info("deliver: %(jira_issues)d Jira issues, %(slack_digests)d digest "
                          "(%(created)d created, %(updated)d updated, %(unchanged)d unchanged)",
                          delivered)
    return delivered


@contextmanager
def recorded_run(settings: Settings) -> Iterator[Run]:
    """The run's row in the warehouse and its ``run-summary`` artifact, however it ends."""
    with closing(connect(settings.warehouse, limits=settings.duckdb)) as con, \
            open_run(con, as_of=settings.rank.as_of, flow_run_id=current_flow_run.id) as run:
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


@contextmanager
def stage(run: Run, name: str) -> Iterator[None]:
    """Time the stage; once it is done, save the run's stats so far (a crash keeps them)."""
    with run.timed(name):
        yield
    save_progress(run.con, run.run_id, run.stats)


class _Overrun(TimeoutError):
    pass


@contextmanager
def time_limit(minutes: int, setting: str) -> Iterator[None]:
    """Stop the block after ``minutes`` with a TimeoutError that names the setting."""
    try:
        with timeout(minutes * 60, timeout_exc_type=_Overrun):
            yield
    except _Overrun:
        raise TimeoutError(f"the run took longer than {setting} = {minutes} minutes and was "
                           "stopped; raise it if such nights are expected") from None


# A failed or crashed run posts a short Slack alert when [alerts] is enabled (flows/alerts.py);
# the guaranteed alerts are Prefect Automations (flows/automations.py).
@flow(name="nightly-feedback", log_prints=True, on_failure=[on_flow_failure],
      on_crashed=[on_flow_failure])
def nightly(config_path: str | None = None, warehouse: str | None = None,
            dry_run: bool = True, full_recluster: bool = False) -> dict:
    """Pull, clean, embed, cluster, rank and deliver customer feedback."""
    settings = load_settings(config_path, warehouse=warehouse)
    settings.deliver.dry_run = dry_run or settings.deliver.dry_run
    embed_limited = embed.with_options(timeout_seconds=settings.embed.timeout_minutes * 60)
    with recorded_run(settings) as run, \
            time_limit(settings.schedule.timeout_minutes, "[schedule] timeout_minutes"):
        pipeline.check_credentials(settings)
        ref = RunRef(settings.warehouse, run.run_id, run.as_of_setting, run.started_at)
        with stage(run, "ingest"):
            run.stats["ingest"] = ingest(ref, settings, return_state=True).result()
        ingested = run.stats["ingest"]
        if ingested["by_source"] and len(ingested["failed_sources"]) == len(ingested["by_source"]):
            raise SourceError("every source failed, nothing was ingested: "
                              + "; ".join(f"{name}: {ingested['by_source'][name]['error']}"
                                          for name in ingested["failed_sources"]))
        ref = replace(ref, as_of=run.as_of)  # resolved once, after ingest ('latest')
        with stage(run, "clean"):
            run.stats["clean"] = clean(ref, settings)
        with stage(run, "embed"):
            run.stats["embed"] = embed_limited(ref, settings)
        with stage(run, "cluster"):
            run.stats["cluster"] = cluster(ref, settings, full_recluster)
        with stage(run, "rank"):
            ranking = rank(ref, settings)
            run.stats["rank"] = {"ranked": len(ranking), "as_of": run.as_of.isoformat()}
        with stage(run, "deliver"):
            run.stats["deliver"] = deliver(ref, settings, ranking, run.stats)
        create_markdown_artifact(key="ranked-themes", markdown=ranking_markdown(ranking),
                                 description=f"Ranked themes of run {run.run_id}")
    if ingested["failed_sources"]:  # partly failed: Completed, and it says so
        return Completed(message=failed_sources_message(ingested), data=run.stats)
    return run.stats


if __name__ == "__main__":
    import sys

    from feedback_pipeline_flows.local_server import temporary_server

    temporary_server()
    nightly(config_path=sys.argv[1] if len(sys.argv) > 1 else None)
