"""Settings of the Intercom conversations connector."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from feedback_pipeline.ingest.config import ConnectorConfig


class IntercomSourceConfig(ConnectorConfig):
    """Conversations updated since the cursor, with their parts.

    The access token needs the "Read conversations" permission (and "Read tags").
    """

    type: Literal["intercom"] = "intercom"
    base_url: str = "https://api.intercom.io"
    token_env: str = "FP_INTERCOM_TOKEN"
    api_version: str = "2.11"
    page_size: int = Field(50, ge=1, le=150)
    lookback_seconds: int = Field(
        60, ge=0, description="Re-read this much before the cursor: the search index lags."
    )
    missing_retry_nights: int = Field(
        7, ge=1, description="Nights a conversation listed by search but answering 404 is "
        "retried before it is given up (with a warning in the run summary).")
    app_url: str | None = Field(
        None, description="e.g. https://app.intercom.com/a/inbox/<app id>; links are built if set."
    )


__all__ = ["IntercomSourceConfig"]
