"""``feedback-pipeline pulse``: the community pulse in the terminal (issue #18)."""

from __future__ import annotations

from contextlib import closing
from datetime import UTC, datetime
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


def pulse(
    config: ConfigOpt = None,
    warehouse: WarehouseOpt = None,
    since: Annotated[datetime | None, typer.Option(
        formats=["%Y-%m-%d"], help="From the night (or week) of this day (YYYY-MM-DD, UTC); "
        "default: the last pulse.nights nights or pulse.weeks weeks.")] = None,
    week: Annotated[bool, typer.Option(
        "--week/--night", help="One row per ISO week, or per night (the default).")] = False,
    source: Annotated[list[str] | None, typer.Option(
        "--source", "-s", help="Only this source (repeatable).")] = None,
    fmt: Annotated[StatusFormat, typer.Option(
        "--format", "-f", help="table or json.")] = StatusFormat.table,
) -> None:
    """Community pulse per night or week: participants, posts and replies, the share of
    customer threads a staff member answered and how fast, and the threads still waiting."""
    from feedback_pipeline.rank.pulse import compute_pulse
    from feedback_pipeline.report.pulse_text import pulse_json, pulse_table
    from feedback_pipeline.warehouse.runs import resolve_as_of

    try:
        settings, con = open_warehouse(config, warehouse, read_only=True)
        with closing(con):
            result = compute_pulse(
                con, settings.pulse, as_of=resolve_as_of(con, settings.rank.as_of),
                period="week" if week else "night", sources=source,
                since=since.replace(tzinfo=UTC) if since else None)
    except FeedbackPipelineError as exc:
        fail(exc)
    typer.echo(pulse_json(result) if fmt is StatusFormat.json else pulse_table(result))


__all__ = ["pulse"]
