"""The ``feedback-pipeline`` command line."""

from __future__ import annotations

import os
import sys
from contextlib import closing
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from .errors import FeedbackPipelineError

app = typer.Typer(help="Turn community posts and support tickets into ranked product themes.",
                  no_args_is_help=True, add_completion=False)

ConfigOpt = Annotated[Path | None, typer.Option("--config", "-c", help="TOML config file.",
                                                 exists=True, dir_okay=False)]
WarehouseOpt = Annotated[Path | None, typer.Option("--warehouse", "-w",
                                                    help="DuckDB file (overrides the config).")]


class Format(str, Enum):
    table = "table"
    json = "json"
    csv = "csv"


def _fail(exc: Exception) -> None:
    typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code=2)


@app.command()
def run(
    config: ConfigOpt = None,
    warehouse: WarehouseOpt = None,
    dry_run: Annotated[bool, typer.Option("--dry-run/--live",
                                          help="Write Jira/Slack requests to the outbox only.")] = True,
    full_recluster: Annotated[bool, typer.Option(
        "--full-recluster", help="Re-cluster everything instead of the incremental path.")] = False,
) -> None:
    """Run the nightly flow once: pull, clean, embed, cluster, rank, deliver."""
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    from flows.nightly import nightly

    try:
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


themes_app = typer.Typer(help="Ranked themes, and corrections: merge, split, rename, reject.",
                         invoke_without_command=True)
app.add_typer(themes_app, name="themes")


def _open(config: Path | None, warehouse: Path | None, *, read_only: bool):
    from .config import load_settings
    from .db import connect

    settings = load_settings(config, warehouse=warehouse)
    if not settings.warehouse.exists():
        raise FeedbackPipelineError(
            f"no warehouse at {settings.warehouse}: run `feedback-pipeline run` first")
    return settings, connect(settings.warehouse, read_only=read_only)


@themes_app.callback()
def themes(
    ctx: typer.Context,
    config: ConfigOpt = None,
    warehouse: WarehouseOpt = None,
    fmt: Annotated[Format, typer.Option("--format", "-f", help="table, json or csv.")] = Format.table,
    limit: Annotated[int, typer.Option(help="Show at most this many themes.")] = 20,
) -> None:
    """Show the ranked themes of the latest run, with why each ranks where it does."""
    if ctx.invoked_subcommand:
        return
    from .rank import latest_ranking
    from .report import ranking_csv, ranking_json, ranking_table

    try:
        _, con = _open(config, warehouse, read_only=True)
        with closing(con):
            ranking = latest_ranking(con)[:limit]
    except FeedbackPipelineError as exc:
        _fail(exc)
    render = {Format.table: ranking_table, Format.json: ranking_json, Format.csv: ranking_csv}[fmt]
    typer.echo(render(ranking) if ranking else "no ranked themes yet")


ThemeArg = Annotated[int, typer.Argument(help="Theme id (see `feedback-pipeline themes`).")]
ByOpt = Annotated[str | None, typer.Option("--by", help="Who decided (kept with the decision).")]


@themes_app.command("show")
def themes_show(theme_id: ThemeArg, config: ConfigOpt = None, warehouse: WarehouseOpt = None) -> None:
    """One theme: score breakdown, trend, daily counts, quotes and its history of events."""
    from .report import theme_detail

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
    from .corrections import merge_themes

    _correct(config, warehouse, lambda _s, con: merge_themes(con, theme_id, into, by=by),
             f"theme {theme_id} merged into {into}")


@themes_app.command("split")
def themes_split(theme_id: ThemeArg, config: ConfigOpt = None, warehouse: WarehouseOpt = None,
                 by: ByOpt = None) -> None:
    """Split a theme in two; the larger part keeps the id (and its Jira issue)."""
    from .corrections import split_theme

    _correct(config, warehouse,
             lambda s, con: split_theme(con, theme_id, model_id=s.embed.model,
                                        label_config=s.label, by=by),
             f"theme {theme_id} split: the smaller part is now theme {{result}}")


@themes_app.command("rename")
def themes_rename(theme_id: ThemeArg, title: Annotated[str, typer.Argument(help="New title.")],
                  config: ConfigOpt = None, warehouse: WarehouseOpt = None, by: ByOpt = None) -> None:
    """Give a theme your title; later runs keep it."""
    from .corrections import rename_theme

    _correct(config, warehouse, lambda _s, con: rename_theme(con, theme_id, title, by=by),
             f"theme {theme_id} renamed")


@themes_app.command("reject")
def themes_reject(theme_id: ThemeArg, config: ConfigOpt = None, warehouse: WarehouseOpt = None,
                  by: ByOpt = None) -> None:
    """Mark a theme as noise: never ranked or delivered again."""
    from .corrections import reject_theme

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
    from .adhoc import cluster_file

    try:
        summary = cluster_file(input_path, output, text_column=text_column, id_column=id_column,
                               label_column=label_column, config_path=config)
    except FeedbackPipelineError as exc:
        _fail(exc)
    typer.echo(" ".join(f"{k}={v}" for k, v in summary.items()))


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)


__all__ = ["app", "main"]
