"""Settings of the Slack channels connector."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from feedback_pipeline.ingest.config import ConnectorConfig


class SlackSourceConfig(ConnectorConfig):
    """Messages and thread replies of configured channels, through ``slack_sdk.WebClient``.

    The bot token needs ``channels:history`` (``groups:history`` for private channels) and the
    bot must be a member of each channel.
    """

    type: Literal["slack"] = "slack"
    base_url: str = "https://slack.com/api/"
    token_env: str = "FP_SLACK_TOKEN"
    channels: list[str] = Field(min_length=1, description="Channel ids, e.g. C0123456789.")
    page_size: int = Field(200, ge=1, le=999)
    thread_window_days: float = Field(
        7.0, ge=0, description="Look this far before the cursor for threads with new replies "
        "and for edited messages."
    )
    workspace_url: str | None = Field(None, description="https://<team>.slack.com, for links.")
    staff_users: list[str] = Field(
        default_factory=list, description="User ids (U0123...) of the people who answer for the "
        "company: their messages are staff replies in the community pulse.")


__all__ = ["SlackSourceConfig"]
