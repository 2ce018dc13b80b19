"""The ``feedback-pipeline`` command line."""

from __future__ import annotations

import os
import sys
from contextlib import closing
from datetime import datetime
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from feedback_pipeline.cli_options import AccountOpt, ConfigOpt, StatusFormat, WarehouseOpt
from feedback_pipeline.cli_options import fail as _fail
from feedback_pipeline.cli_options import open_warehouse as _open
from feedback_pipeline.cli_pulse import pulse
from feedback_pipeline.cli_search import search
from feedback_pipeline.errors import FeedbackPipelineError

app = typer.Typer(help="Turn community posts and support tickets into ranked product themes.",
                  no_args_is_help=True, add_completion=False)


class Format(str, Enum):
    table = "table"
    json = "json"
    csv = "csv"


@app.command()
def run(
    config: ConfigOpt = None,
    warehouse: WarehouseOpt = None,
    dry_run: Annotated[bool, typer.Option("--dry-run/--live",
                                          help="Write Jira/Slack requests to the outbox only.")] = True,
    full_recluster: Annotated[bool, typer.Option(
        "--full-recluster", help="Re-cluster everything instead of the incremental path.")] = False,
) -> None:
    """Run the nightly flow once: pull, clean, embed, cluster, rank, deliver.

    Exit status: 0 when every source was read, 1 when the run completed but a source failed as a
    whole (named on stderr; the others were ingested), 2 when the run failed or the configuration
    is invalid.
    """
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    from feedback_pipeline.config import load_settings

    try:  # a bad config fails here, before Prefect starts its temporary server
        load_settings(config, warehouse=warehouse)
    except FeedbackPipelineError as exc:
        _fail(exc)
    from feedback_pipeline_flows.local_server import temporary_server
    from feedback_pipeline_flows.nightly import nightly

    try:
        temporary_server()  # without PREFECT_API_URL: Prefect's, stopped even if we are killed
        stats = nightly(config_path=str(config) if config else None,
                        warehouse=str(warehouse) if warehouse else None, dry_run=dry_run,
                        full_recluster=full_recluster)
    except FeedbackPipelineError as exc:
        _fail(exc)
    ing, cl = stats["ingest"], stats["cluster"]
    typer.echo(
        f"run {stats['run_id']}: {ing['fetched']} fetched ({ing['new']} new, {ing['changed']} "
        f"changed, {ing['rejected']} rejected), {stats['embed']['embedded']} embedded, "
        f"{cl['themes']} themes ({cl['noise_fraction']:.1%} noise), {stats['rank']['ranked']} "
        f"ranked; outbox: {stats['deliver']['outbox']}"
    )
    typer.echo(f"records: {ing['fetched']} in = {ing['stored']} stored + {ing['rejected']} "
               f"rejected + {ing['superseded']} superseded"
               + ("; see `feedback-pipeline rejected`" if ing["rejected"] else ""))
    for name, error in ing.get("errors", {}).items():
        typer.secho(f"error: source '{name}' failed, nothing was read from it: {error}",
                    fg=typer.colors.RED, err=True)
    if ing.get("errors"):
        raise typer.Exit(code=1)


themes_app = typer.Typer(help="Ranked themes, and corrections: merge, split, rename, reject.",
                         invoke_without_command=True)
app.add_typer(themes_app, name="themes")


@themes_app.callback()
def themes(
    ctx: typer.Context,
    config: ConfigOpt = None,
    warehouse: WarehouseOpt = None,
    fmt: Annotated[Format, typer.Option("--format", "-f", help="table, json or csv.")] = Format.table,
    limit: Annotated[int, typer.Option(help="Show at most this many themes.")] = 20,
    segment: AccountOpt = None, plan: AccountOpt = None,
) -> None:
    """Show the ranked themes of the latest run, with why each ranks where it does."""
    if ctx.invoked_subcommand:
        return
    from feedback_pipeline.rank.value import ranking_for
    from feedback_pipeline.report.terminal import ranking_csv, ranking_json, ranking_table

    ranking = _read(config, warehouse,
                    lambda con: ranking_for(con, segments=segment, plans=plan))[:limit]
    render = {Format.table: ranking_table, Format.json: ranking_json, Format.csv: ranking_csv}[fmt]
    typer.echo(render(ranking) if ranking else "no ranked themes yet")


ThemeArg = Annotated[int, typer.Argument(help="Theme id (see `feedback-pipeline themes`).")]
ByOpt = Annotated[str | None, typer.Option("--by", help="Who decided (kept with the decision).")]


@themes_app.command("show")
def themes_show(theme_id: ThemeArg, config: ConfigOpt = None, warehouse: WarehouseOpt = None) -> None:
    """One theme: score breakdown, trend, daily counts, quotes and its history of events."""
    from feedback_pipeline.report.terminal import theme_detail

    try:
        _, con = _open(config, warehouse, read_only=True)
        with closing(con):
            typer.echo(theme_detail(con, theme_id))
    except FeedbackPipelineError as exc:
        _fail(exc)


def _correct(config: Path | None, warehouse: Path | None, action, done: str) -> None:
    """Apply one correction ``action(settings, con)`` and say what happened (or why not)."""
    try:
        settings, con = _open(config, warehouse, read_only=False)
        with closing(con):
            result = action(settings, con)
    except FeedbackPipelineError as exc:
        _fail(exc)
    typer.echo(done.format(result=result))


@themes_app.command("merge")
def themes_merge(theme_id: ThemeArg, into: Annotated[int, typer.Argument(help="Theme to keep.")],
                 config: ConfigOpt = None, warehouse: WarehouseOpt = None, by: ByOpt = None) -> None:
    """Merge THEME_ID into INTO; later runs send its look-alikes to INTO too."""
    from feedback_pipeline.cluster.corrections import merge_themes

    _correct(config, warehouse, lambda _s, con: merge_themes(con, theme_id, into, by=by),
             f"theme {theme_id} merged into {into}")


@themes_app.command("split")
def themes_split(theme_id: ThemeArg, config: ConfigOpt = None, warehouse: WarehouseOpt = None,
                 by: ByOpt = None) -> None:
    """Split a theme in two; the larger part keeps the id (and its Jira issue)."""
    from feedback_pipeline.cluster.corrections import split_theme

    _correct(config, warehouse,
             lambda s, con: split_theme(con, theme_id, model_id=s.embed.vector_key,
                                        label_config=s.label, by=by),
             f"theme {theme_id} split: the smaller part is now theme {{result}}")


@themes_app.command("rename")
def themes_rename(theme_id: ThemeArg, title: Annotated[str, typer.Argument(help="New title.")],
                  config: ConfigOpt = None, warehouse: WarehouseOpt = None, by: ByOpt = None) -> None:
    """Give a theme your title; later runs keep it."""
    from feedback_pipeline.cluster.corrections import rename_theme

    _correct(config, warehouse, lambda _s, con: rename_theme(con, theme_id, title, by=by),
             f"theme {theme_id} renamed")


@themes_app.command("reject")
def themes_reject(theme_id: ThemeArg, config: ConfigOpt = None, warehouse: WarehouseOpt = None,
                  by: ByOpt = None) -> None:
    """Mark a theme as noise: never ranked or delivered again."""
    from feedback_pipeline.cluster.corrections import reject_theme

    _correct(config, warehouse, lambda _s, con: reject_theme(con, theme_id, by=by),
             f"theme {theme_id} rejected")


@app.command()
def cluster(
    input_path: Annotated[Path, typer.Argument(help="CSV or JSONL file of texts.", exists=True,
                                               dir_okay=False)],
    output: Annotated[Path, typer.Option("--output", "-o", help="Where to write the CSV.")],
    text_column: Annotated[str, typer.Option(help="Column holding the text.")] = "text",
    id_column: Annotated[str | None, typer.Option(help="Column holding a record id "
                                                  "(default: row number).")] = None,
    label_column: Annotated[str | None, typer.Option(help="Known labels: report NMI/ARI "
                                                     "against them.")] = None,
    config: ConfigOpt = None,
) -> None:
    """Cluster any file of texts with the nightly flow's clean/embed/cluster/label stages."""
    from feedback_pipeline.cluster_file import cluster_file

    try:
        summary = cluster_file(input_path, output, text_column=text_column, id_column=id_column,
                               label_column=label_column, config_path=config)
    except FeedbackPipelineError as exc:
        _fail(exc)
    typer.echo(" ".join(f"{k}={v}" for k, v in summary.items()))


@app.command()
def report(
    config: ConfigOpt = None,
    warehouse: WarehouseOpt = None,
    output: Annotated[Path, typer.Option("--output", "-o", help="Where to write the HTML page.",
                                         dir_okay=False)] = Path("report.html"),
    limit: Annotated[int, typer.Option(min=1, help="Show at most this many themes.")] = 20,
    segment: AccountOpt = None, plan: AccountOpt = None,
) -> None:
    """Write the PM report: one self-contained HTML page of the ranked themes."""
    from feedback_pipeline.report.html import write_report

    try:
        settings, con = _open(config, warehouse, read_only=True)
        with closing(con):
            summary = write_report(con, output, limit=limit, segments=segment, plans=plan,
                                   jira_server=settings.deliver.jira.server, pulse=settings.pulse)
    except FeedbackPipelineError as exc:
        _fail(exc)
    typer.echo(f"wrote {output}: {summary['themes']} of {summary['ranked']} ranked themes, "
               f"{summary['shipped']} shipped")


@app.command()
def deploy(
    config: ConfigOpt = None,
    name: Annotated[str, typer.Option(help="Deployment name.")] = "nightly",
    cron: Annotated[str | None, typer.Option(help="Cron expression (default: schedule.cron, "
                                             "'0 2 * * *').")] = None,
    timezone: Annotated[str | None, typer.Option(help="IANA timezone of the cron (default: "
                                                 "schedule.timezone).")] = None,
    overlap: Annotated[str | None, typer.Option(help="enqueue or cancel-new: what a run that "
                                                "starts while one runs does.")] = None,
    live: Annotated[bool, typer.Option("--live/--dry-run",
                                       help="Deliver to Jira/Slack (default: dry run).")] = False,
    work_pool: Annotated[str | None, typer.Option(help="Register on this process work pool "
                                                  "(run by `prefect worker start`) instead of "
                                                  "serving.")] = None,
) -> None:
    """Deploy the nightly flow on its cron schedule (needs PREFECT_API_URL); serves it here."""
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    from feedback_pipeline_flows.deploy import deploy_to_pool, deployment_options, serve

    try:
        options = deployment_options(config, cron=cron, timezone=timezone, overlap=overlap,
                                     dry_run=not live, portable=bool(work_pool))
        if work_pool:
            deployment_id = deploy_to_pool(options, work_pool, name=name)
            typer.echo(f"deployment nightly-feedback/{name} ({deployment_id}) is on work pool "
                       f"{work_pool!r}; start a worker: prefect worker start --pool {work_pool}")
        else:
            serve(options, name=name)
    except FeedbackPipelineError as exc:
        _fail(exc)


@app.command()
def automations(config: ConfigOpt = None) -> None:
    """Create (or replace) the Prefect Automations that alert on failed, crashed, late and
    too-long runs, sending to [alerts] notify_block (needs PREFECT_API_URL)."""
    from feedback_pipeline.config import load_settings
    from feedback_pipeline_flows.automations import ensure_automations
    from feedback_pipeline_flows.deploy import require_api

    try:
        require_api()
        names = ensure_automations(load_settings(config).alerts)
    except FeedbackPipelineError as exc:
        _fail(exc)
    if not names:
        _fail(FeedbackPipelineError("alerts.notify_block is empty: name the notification block "
                                    "to send to, e.g. 'slack-webhook/feedback-alerts'"))
    typer.echo(f"{len(names)} automations send to {load_settings(config).alerts.notify_block}: "
               + ", ".join(names))


@app.command()
def status(
    config: ConfigOpt = None,
    warehouse: WarehouseOpt = None,
    limit: Annotated[int, typer.Option(min=1, help="Show at most this many runs.")] = 10,
    fmt: Annotated[StatusFormat, typer.Option("--format", "-f", help="table or json.")] =
    StatusFormat.table,
) -> None:
    """Last runs: what each stage did and how long it took, failures, rejects, cursors."""
    from feedback_pipeline.report.status import status_json, status_table, warehouse_status

    report = _read(config, warehouse, lambda con: warehouse_status(con, limit=limit))
    typer.echo(status_json(report) if fmt is StatusFormat.json else status_table(report))


def _read(config: Path | None, warehouse: Path | None, query):
    """``query(con)`` on the warehouse opened read-only; a clear error (exit 2) if it cannot."""
    try:
        _, con = _open(config, warehouse, read_only=True)
        with closing(con):
            return query(con)
    except FeedbackPipelineError as exc:
        _fail(exc)


@app.command()
def rejected(
    config: ConfigOpt = None,
    warehouse: WarehouseOpt = None,
    source: Annotated[str | None, typer.Option("--source", "-s", help="Only this source.")] = None,
    since: Annotated[datetime | None, typer.Option(
        formats=["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S"],
        help="Only records rejected since this day (YYYY-MM-DD, UTC).")] = None,
    limit: Annotated[int, typer.Option(min=1, help="Show at most this many.")] = 100,
    fmt: Annotated[StatusFormat, typer.Option("--format", "-f", help="table or json.")] =
    StatusFormat.table,
) -> None:
    """Records that could not be ingested: where they were (file:line, page) and why."""
    from feedback_pipeline.report.status import rejected_records, rejected_table, status_json

    rows = _read(config, warehouse,
                 lambda con: rejected_records(con, source=source, since=since, limit=limit))
    typer.echo(status_json(rows) if fmt is StatusFormat.json else rejected_table(rows))


@app.command()
def backfill(
    since: Annotated[datetime, typer.Option(formats=["%Y-%m-%d"],
                                            help="First day to replay (YYYY-MM-DD).")],
    until: Annotated[datetime | None, typer.Option(
        formats=["%Y-%m-%d"], help="Last day (default: the newest item's day).")] = None,
    config: ConfigOpt = None,
    warehouse: WarehouseOpt = None,
) -> None:
    """Replay history day by day so themes and trends start with a past; resumable."""
    from itertools import count

    from feedback_pipeline.backfill import backfill as replay
    from feedback_pipeline.backfill import check_backfill, completed_days, last_day, prepare_history
    from feedback_pipeline.config import load_settings
    from feedback_pipeline.report.status import progress_bar
    from feedback_pipeline.warehouse.db import connect

    first = since.date()
    try:
        settings = load_settings(config, warehouse=warehouse)
        with closing(connect(settings.warehouse, limits=settings.duckdb)) as con:
            check_backfill(con, since=first, until=until.date() if until else last_day(con))
            with progress_bar("embedding") as bar:
                prepared = prepare_history(con, settings, progress=bar)
            last = until.date() if until else last_day(con)
            check_backfill(con, since=first, until=last)
            skipped = len({d for d in completed_days(con) if first <= d <= last})
            with progress_bar("replaying days") as bar:
                # The bar counts days already done by an interrupted backfill as done.
                days_done = count(skipped + 1)
                steps = replay(con, settings, since=first, until=last, progress=(
                    (lambda _step, total: bar(next(days_done), total)) if bar else None))
    except FeedbackPipelineError as exc:
        _fail(exc)
    done = [s for s in steps if s.run_id]
    ing = prepared["ingest"]
    line = (f"backfill {first}..{last}: {len(done)} days replayed, {len(steps) - len(done)} "
            f"already done; {ing['fetched']} fetched ({ing['new']} new), "
            f"{prepared['embed']['embedded']} embedded")
    if done:
        cl = done[-1].stats["cluster"]
        line += (f"; {done[-1].day}: {cl.get('themes', '?')} themes, "
                 f"{done[-1].stats['rank']['ranked']} ranked")
    typer.echo(line)


app.command()(search)


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)


app.command()(pulse)
__all__ = ["app", "main"]
