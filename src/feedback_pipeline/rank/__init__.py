"""Rank stage: score the themes in DuckDB (``warehouse/rank.sql``), keeping each score's reasons,
and flag what is new, rising or fading (``warehouse/trends.sql``)."""

from feedback_pipeline._exports import lazy

__all__ = ["compute_trends", "latest_ranking", "rank_themes"]
__getattr__ = lazy(__name__, {"rank_themes": "score", "latest_ranking": "score",
                              "compute_trends": "trends"})
