"""Settings of the Discourse connector."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from feedback_pipeline.ingest.config import ConnectorConfig


class DiscourseSourceConfig(ConnectorConfig):
    """Topics and their posts. An API key is optional on public forums (anonymous reads)."""

    type: Literal["discourse"] = "discourse"
    base_url: str = Field(description="The forum, e.g. https://forum.example.com")
    api_username: str = "system"
    api_key_env: str | None = Field(
        "FP_DISCOURSE_API_KEY", description="Env var with the API key; \"\" for anonymous reads."
    )
    rescan_days: float = Field(
        7.0, ge=0, description="Re-read topics active this long before the cursor (edits)."
    )
    max_rescan_topics: int = Field(200, ge=0, description="Bound on topics re-read per run.")
    latest_page_size: int = Field(30, ge=1, le=100)
    posts_page_size: int = Field(50, description="Discourse's fixed /posts.json page size.")
    staff_groups: list[str] = Field(
        default_factory=list, description="Primary groups whose members answer for the company "
        "(staff, moderators and admins always count as staff).")


__all__ = ["DiscourseSourceConfig"]
