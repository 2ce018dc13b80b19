"""One exception tree for the whole library.

    FeedbackPipelineError
    ├── ConfigError            bad or missing configuration / secret (the message names the setting)
    ├── RecordError            one input record is unusable (kept in ``rejected_items``, run goes on)
    ├── WarehouseError         the DuckDB file cannot be opened or is locked
    │   └── WarehouseLockedError   another process (a run) has the file open
    ├── ModelError             the embedding model cannot be loaded
    ├── SourceError            a connector cannot fetch (auth, rate limit, bad JSON)
    └── SinkError              a delivery (Jira, Slack) failed; results stay in the outbox

Library code raises these; only the CLI and flow hooks turn them into messages for people.
"""

from __future__ import annotations


class FeedbackPipelineError(Exception):
    """Base class of every error this package raises on purpose."""


class ConfigError(FeedbackPipelineError):
    """The configuration is invalid or a required setting/secret is missing."""


class RecordError(FeedbackPipelineError):
    """A single input record cannot be ingested.

    Carries where the record came from so the rejection can be stored and shown.
    """

    def __init__(self, reason: str, *, source: str = "", position: str = "", raw: str = "") -> None:
        super().__init__(f"{source}@{position}: {reason}" if source else reason)
        self.reason = reason
        self.source = source
        self.position = position
        self.raw = raw


class WarehouseError(FeedbackPipelineError):
    """The warehouse cannot be opened, is locked by another process, or its schema is wrong."""


class WarehouseLockedError(WarehouseError):
    """Another process holds the warehouse's lock; ``pid`` is that process when DuckDB says so."""

    def __init__(self, message: str, *, path: str, pid: int | None = None) -> None:
        super().__init__(message)
        self.path = path
        self.pid = pid


class ModelError(FeedbackPipelineError):
    """The embedding model cannot be found or loaded."""


class SourceError(FeedbackPipelineError):
    """A connector cannot fetch from its service; the message names the source and what to fix.

    Raised for rejected credentials (401/403), retries exhausted (429/5xx/connection errors) and
    answers that are not the documented shape (malformed JSON). Ingest records it for that source
    and carries on with the others.
    """


class SinkError(FeedbackPipelineError):
    """A delivery to an external system failed."""


__all__ = [
    "ConfigError",
    "FeedbackPipelineError",
    "ModelError",
    "RecordError",
    "SinkError",
    "SourceError",
    "WarehouseError",
    "WarehouseLockedError",
]
