"""``feedback-pipeline search``: items and themes nearest in meaning to a query."""

from __future__ import annotations

from contextlib import closing
from datetime import datetime
from typing import Annotated

import typer

from feedback_pipeline.cli_options import (
    ConfigOpt,
    StatusFormat,
    WarehouseOpt,
    fail,
    open_warehouse,
)
from feedback_pipeline.errors import FeedbackPipelineError


def search(
    query: Annotated[str, typer.Argument(help='What to look for, in plain words: "offline mode".')],
    config: ConfigOpt = None,
    warehouse: WarehouseOpt = None,
    source: Annotated[str | None, typer.Option("--source", "-s", help="Only this source.")] = None,
    item_type: Annotated[str | None, typer.Option(
        "--type", "-t", help="Only this item type: request, problem, question or praise.")] = None,
    since: Annotated[datetime | None, typer.Option(
        formats=["%Y-%m-%d"], help="Only items created since this day (YYYY-MM-DD, UTC).")] = None,
    limit: Annotated[int, typer.Option(min=1, help="Show at most this many items.")] = 10,
    fmt: Annotated[StatusFormat, typer.Option("--format", "-f", help="table or json.")] =
    StatusFormat.table,
) -> None:
    """Items nearest in meaning to QUERY (with the theme each belongs to), then the nearest
    themes: cosine similarity over the stored vectors, in DuckDB, read-only. Customer text is
    redacted as in every other output."""
    from feedback_pipeline.embed.embedder import get_embedder
    from feedback_pipeline.report.search import SearchQuery, search_json, search_table
    from feedback_pipeline.report.search import search as find

    wanted = SearchQuery(query, source=source, item_type=item_type, since=since, limit=limit)
    try:
        settings, con = open_warehouse(config, warehouse, read_only=True)
        with closing(con):
            result = find(con, get_embedder(settings.embed), wanted)
    except FeedbackPipelineError as exc:
        fail(exc)
    typer.echo(search_json(result) if fmt is StatusFormat.json else search_table(result))


__all__ = ["search"]
