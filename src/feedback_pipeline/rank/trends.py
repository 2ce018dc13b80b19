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


def daily_counts(con: duckdb.DuckDBPyConnection, theme_id: int) -> list[tuple]:
    return con.execute("SELECT day, items FROM theme_daily_counts WHERE theme_id = ? ORDER BY day",
                       [theme_id]).fetchall()


__all__ = ["compute_trends", "daily_counts"]
