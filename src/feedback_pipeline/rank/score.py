"""Rank stage: run ``warehouse/rank.sql`` and store the ranking of this run with its breakdown."""

from __future__ import annotations

from datetime import datetime

import duckdb

from feedback_pipeline.rank.config import RankConfig
from feedback_pipeline.warehouse.db import rows_as_dicts, sql_text, transaction


def rank_themes(
    con: duckdb.DuckDBPyConnection, config: RankConfig, *, run_id: str, as_of: datetime
) -> list[dict]:
    """Compute and store this run's ranking; return it, best first."""
    w = config.weights
    params = {
        "run_id": run_id,
        "as_of": as_of,
        "half_life_days": config.recency_half_life_days,
        "window_days": config.growth_window_days,
        "min_authors": config.min_authors,
        "w_volume": w.volume,
        "w_authors": w.authors,
        "w_growth": w.growth,
        "w_recency": w.recency,
        "w_votes": w.votes,
        "w_support_share": w.support_share,
        "w_coherence": w.coherence,
        "w_value": w.value,
        "value_decades": config.value_decades,
        "min_coherence": config.min_coherence,
        "types": list(config.types),
    }
    with transaction(con):
        con.execute("DELETE FROM theme_scores WHERE run_id = ?", [run_id])
        con.execute("DELETE FROM theme_value WHERE run_id = ?", [run_id])
        con.execute(f"INSERT INTO theme_value BY NAME ({sql_text('theme_value.sql')})",
                    {"run_id": run_id, "as_of": as_of, "types": list(config.types),
                     "top_accounts": config.top_accounts})
        con.execute(f"INSERT INTO theme_scores BY NAME ({sql_text('rank.sql')})", params)
    return latest_ranking(con, run_id=run_id)


def latest_ranking(con: duckdb.DuckDBPyConnection, *, run_id: str | None = None) -> list[dict]:
    """The ranking of ``run_id`` (default: the newest ranked run) joined with theme labels."""
    if run_id is None:
        row = con.execute(
            "SELECT s.run_id FROM theme_scores s JOIN runs r USING (run_id) "
            "ORDER BY r.started_at DESC LIMIT 1"
        ).fetchone()
        if row is None:
            return []
        run_id = row[0]
    cur = con.execute(
        """
        SELECT s.*, t.title, t.keywords, t.quotes, t.first_seen, t.sentence,
               coalesce(tr.flag, 'steady') AS trend, tr.recent_count AS trend_recent,
               tr.baseline AS trend_baseline, tr.window_days AS trend_days
        FROM theme_scores s JOIN themes t USING (theme_id)
        LEFT JOIN theme_trends tr ON tr.run_id = s.run_id AND tr.theme_id = s.theme_id
        WHERE s.run_id = ? AND t.status = 'active'
        ORDER BY s.rank
        """,
        [run_id],
    )
    return rows_as_dicts(cur)


__all__ = ["latest_ranking", "rank_themes"]
