"""Settings of the rank stage (``[rank]``, ``[trends]``)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from feedback_pipeline.section import Section


class TrendsConfig(Section):
    """Rising/fading flags: last ``recent_days`` against the trailing baseline (see trends.sql)."""

    recent_days: int = 7
    baseline_days: int = 28
    rising_ratio: float = 2.0
    min_count: int = Field(3, description="Fewer items than this is no signal either way.")
    fading_ratio: float = 0.5
    new_days: int = 7


class RankWeights(Section):
    volume: float = 1.0
    authors: float = 1.5
    growth: float = 0.75
    recency: float = 0.75
    votes: float = 0.5
    support_share: float = 0.5
    # Mean member cosine to the centroid (rank.sql): a tight theme beats a loose one of the
    # same size, so size alone never makes a blob #1.
    coherence: float = 1.0
    # Customer value (rank.sql): ARR at stake relative to the largest theme's, log-scaled over
    # rank.value_decades. 1.0, as volume: revenue is one signal beside how many ask (authors 1.5
    # stays the largest), and the log keeps one large contract from outranking a theme many
    # accounts ask for. 0 disables it; without [accounts] it adds nothing whatever its weight.
    value: float = 1.0


class RankConfig(Section):
    weights: RankWeights = Field(default_factory=RankWeights)
    recency_half_life_days: float = 14.0
    growth_window_days: int = 14
    min_authors: int = Field(3, description="Themes with fewer distinct authors are never surfaced.")
    min_coherence: float = Field(
        0.0, description="Themes whose members are on average less alike (cosine to the "
        "centroid) need review: ranked last, shown in the report, never sent to Jira or Slack.")
    # Item types counted when ranking (embed/item_types.py); PMs usually want
    # ["request", "problem"].
    types: list[Literal["request", "problem", "question", "praise"]] = Field(
        default_factory=lambda: ["request", "problem", "question", "praise"], min_length=1)
    value_decades: float = Field(
        3.0, gt=0, description="The value component's log scale: the theme with the most ARR at "
        "stake scores 1, each 10x less 1/value_decades less, 0 from 10^-value_decades of it.")
    top_accounts: int = Field(5, ge=0, description="Accounts listed per theme (Jira, report), "
                              "largest ARR first.")
    as_of: Literal["now", "latest"] | datetime = Field(
        "latest",
        description="'latest' (the newest item's time), 'now' (recency decays while sources "
        "are quiet) or a fixed timestamp.",
    )


__all__ = ["RankConfig", "RankWeights", "TrendsConfig"]
