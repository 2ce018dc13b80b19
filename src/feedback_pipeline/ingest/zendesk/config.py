"""Settings of the Zendesk tickets connector."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from feedback_pipeline.ingest.config import ConnectorConfig


class ZendeskSourceConfig(ConnectorConfig):
    """Tickets through the cursor-based incremental export (needs an **admin** API token)."""

    type: Literal["zendesk"] = "zendesk"
    base_url: str = Field(description="https://<subdomain>.zendesk.com")
    email: str = Field(description="The admin's e-mail; the token is sent as <email>/token.")
    token_env: str = "FP_ZENDESK_TOKEN"
    page_size: int = Field(1000, ge=1, le=1000)
    start_time: int = Field(0, ge=0, description="First run: unix time to export from.")
    max_comments: int = Field(
        50, ge=0, description="Public comments after the description appended to each ticket's "
        "body (the oldest first; one comments request per changed ticket); 0: none.")
    comments_page_size: int = Field(100, ge=1, le=100)


__all__ = ["ZendeskSourceConfig"]
