"""Trend flags (new / rising / fading / steady) per theme, computed by ``warehouse/trends.sql``."""

from __future__ import annotations

from datetime import datetime

import duckdb

from feedback_pipeline.rank.config import TrendsConfig
from feedback_pipeline.warehouse.db import sql_text, transaction


def compute_trends(con: duckdb.DuckDBPyConnection, config: TrendsConfig, *, run_id: str,
                   as_of: datetime) -> dict[int, str]:
    """Store this run's trend flags; return {theme_id: flag}."""
    params = {"run_id": run_id, "as_of": as_of, **config.model_dump()}
    with transaction(con):
        con.execute("DELETE FROM theme_trends WHERE run_id = ?", [run_id])
        con.execute(f"INSERT INTO theme_trends BY NAME ({sql_text('trends.sql')})", params)
    return dict(con.execute("SELECT theme_id, flag FROM theme_trends WHERE run_id = ?",
                            [run_id]).fetchall())


TREND_FLAGS = ("new", "rising", "steady", "fading")


def trend_phrase(theme: dict) -> str:
    """The one wording of a theme's trend, used by Jira, Slack, the report and the CLI.

    ``theme`` is a row of :func:`~feedback_pipeline.rank.score.latest_ranking` (``trend``,
    ``trend_recent``, ``trend_baseline``, ``trend_days``). Counts only, never a ratio: a ratio
    over an empty baseline ("x19.0") says nothing a reader can check.
    """
    flag = theme.get("trend") or "steady"
    recent = theme.get("trend_recent")
    if recent is None:  # ranked before trends were computed for it (or a theme from an old run)
        return flag
    days = theme.get("trend_days") or 7
    head = f"{flag}: {recent:,} in the last {days} days"
    if flag == "new":
        return head
    baseline = theme.get("trend_baseline")
    if baseline is None:
        return head
    # a median of weekly counts can be 0.5: "about 0" would read as "none"
    usual = ("none" if baseline < 0.5 else "fewer than 1" if baseline < 1
             else f"about {baseline:,.0f}")
    return f"{head}, usually {usual}"


def daily_counts(con: duckdb.DuckDBPyConnection, theme_id: int) -> list[tuple]:
    return con.execute("SELECT day, items FROM theme_daily_counts WHERE theme_id = ? ORDER BY day",
                       [theme_id]).fetchall()


__all__ = ["TREND_FLAGS", "compute_trends", "daily_counts", "trend_phrase"]
