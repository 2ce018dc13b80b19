"""What every ``feedback-pipeline`` command shares: the --config/--warehouse options, the output
formats, opening the warehouse, and turning an error into a message and exit status 2.

Kept apart from ``cli.py`` so commands can live in modules of their own (``cli_search.py``).
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated, NoReturn

import typer

from feedback_pipeline.errors import FeedbackPipelineError

ConfigOpt = Annotated[Path | None, typer.Option("--config", "-c", help="TOML config file.",
                                                 exists=True, dir_okay=False)]
WarehouseOpt = Annotated[Path | None, typer.Option("--warehouse", "-w",
                                                    help="DuckDB file (overrides the config).")]
AccountOpt = Annotated[list[str] | None, typer.Option(help="Only themes with an item from an "
                       "account of this segment/plan (repeatable); counts over those items.")]


class StatusFormat(StrEnum):
    table = "table"
    json = "json"


def fail(exc: Exception) -> NoReturn:
    typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code=2)


def open_warehouse(config: Path | None, warehouse: Path | None, *, read_only: bool):
    """The settings and a connection to their warehouse (which must exist)."""
    from feedback_pipeline.config import load_settings
    from feedback_pipeline.warehouse.db import connect

    settings = load_settings(config, warehouse=warehouse)
    if not settings.warehouse.exists():
        raise FeedbackPipelineError(
            f"no warehouse at {settings.warehouse}: run `feedback-pipeline run` first")
    return settings, connect(settings.warehouse, read_only=read_only, limits=settings.duckdb)


__all__ = ["AccountOpt", "ConfigOpt", "StatusFormat", "WarehouseOpt", "fail", "open_warehouse"]
