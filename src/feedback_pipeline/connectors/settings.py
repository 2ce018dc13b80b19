"""Settings every HTTP connector shares; each connector's ``settings.py`` extends them.

Imports nothing from ``feedback_pipeline.config`` (which imports these), so there is no cycle.
Credentials are never settings: a setting names the *environment variable* that holds them, and
the value is read (as a ``SecretStr``) only when the source fetches.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class ConnectorSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="Source name stored with every item and cursor.")
    base_url: str
    timeout_seconds: float = Field(30.0, gt=0)
    max_retries: int = Field(5, ge=1, description="Attempts per request (429/5xx/connection).")
    max_retry_wait_seconds: float = Field(
        120.0, ge=0, description="Total time one request may spend waiting before giving up."
    )


__all__ = ["ConnectorSettings"]
