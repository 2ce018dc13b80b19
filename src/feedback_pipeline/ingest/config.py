"""Settings of the ingest stage (``[ingest]``, ``[[sources]]``).

``ConnectorConfig`` holds what every HTTP connector shares; each connector's ``config.py`` extends
it, and ``feedback_pipeline.config`` joins them into the ``[[sources]]`` union. Credentials are
never settings: a setting names the *environment variable* that holds them, and the value is read
(as a ``SecretStr``) only when the source fetches.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from feedback_pipeline.section import Section


class ConnectorConfig(Section):
    name: str = Field(description="Source name stored with every item and cursor.")
    base_url: str
    timeout_seconds: float = Field(30.0, gt=0)
    max_retries: int = Field(5, ge=1, description="Attempts per request (429/5xx/connection).")
    max_retry_wait_seconds: float = Field(
        120.0, ge=0, description="Total time one request may spend waiting before giving up."
    )
    rate_limit_min_wait_seconds: float = Field(
        0.0, ge=0, description="Least wait after a rate-limit answer that gives no wait hint."
    )


class FileSourceConfig(Section):
    """A JSONL or CSV file (or a folder of them) in the documented record schema."""

    type: Literal["file"] = "file"
    name: str = Field(description="Source name stored with every item, e.g. 'demo-forum'.")
    path: Path
    # Fills `kind`/`source` when the file has no such column (e.g. a plain export).
    default_kind: Literal["community_post", "support_ticket"] | None = None
    encoding: str = "utf-8"


class IngestConfig(Section):
    max_body_chars: int = Field(100_000, description="Longer bodies are rejected, not truncated.")
    author_salt_env: str = "FP_AUTHOR_SALT"


__all__ = ["ConnectorConfig", "FileSourceConfig", "IngestConfig"]
