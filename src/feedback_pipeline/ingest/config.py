"""Settings of the ingest stage (``[ingest]``, ``[[sources]]``).

``ConnectorConfig`` holds what every HTTP connector shares; each connector's ``config.py`` extends
it, and ``feedback_pipeline.config`` joins them into the ``[[sources]]`` union. Credentials are
never settings: a setting names the *environment variable* that holds them, and the value is read
(as a ``SecretStr``) only when the source fetches.
"""

from __future__ import annotations

import codecs
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator

from feedback_pipeline.records import RecordRules
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
    """A JSONL, JSON (an array of records) or CSV file, a folder of them, or a glob pattern
    (``exports/*.csv``), in the documented record schema."""

    type: Literal["file"] = "file"
    name: str = Field(description="Source name stored with every item, e.g. 'demo-forum'.")
    path: Path
    # Fills `kind`/`source` when the file has no such column (e.g. a plain export).
    default_kind: Literal["community_post", "support_ticket"] | None = None
    # A file that starts with a byte-order mark (UTF-8, UTF-16, UTF-32) is read in that encoding.
    encoding: str = "utf-8"

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, v: str) -> str:
        try:
            codecs.lookup(v)
        except LookupError as exc:
            raise ValueError(f"unknown encoding {v!r} (e.g. 'utf-8', 'cp1252', 'utf-16')") \
                from exc
        return v


class IngestConfig(Section):
    """Limits every record is checked against (a record breaking one is rejected with the reason,
    never truncated or coerced) and the accepted date window."""

    max_body_chars: int = Field(100_000, gt=0, description="Longer bodies are rejected, not "
                                "truncated.")
    max_title_chars: int = Field(1_000, gt=0)
    max_field_chars: int = Field(2_000, gt=0, description="external_id, url, author, customer, "
                                 "plan and each tag.")
    max_tags: int = Field(100, gt=0)
    max_record_chars: int = Field(
        5_000_000, gt=0, description="A file record (JSONL line, CSV row) longer than this is "
        "rejected before it is parsed.")
    csv_max_record_lines: int = Field(
        1_000, gt=0, description="A CSV record spanning more lines (an unterminated quote) is "
        "rejected at its first line; reading resumes on the next line.")
    oldest_date: date = Field(date(2000, 1, 1), description="Records dated before are rejected "
                              "(1970-01-01 and 0001-01-01 are export placeholders).")
    future_tolerance_hours: float = Field(
        24.0, ge=0, description="Records dated more than this after the run's start are rejected "
        "(9999-12-31 is a common 'never').")
    author_salt_env: str = "FP_AUTHOR_SALT"

    def rules(self, now: datetime | None = None, sources: Iterable[str] = ()) -> RecordRules:
        """The checks of one run, whose clock is ``now`` (default: this instant), over the
        configured ``sources`` (their names)."""
        return RecordRules(
            now=now or datetime.now(UTC), sources=frozenset(sources),
            oldest=datetime.combine(self.oldest_date, datetime.min.time(), tzinfo=UTC),
            future_tolerance=timedelta(hours=self.future_tolerance_hours),
            max_title_chars=self.max_title_chars, max_field_chars=self.max_field_chars,
            max_tags=self.max_tags)


__all__ = ["ConnectorConfig", "FileSourceConfig", "IngestConfig"]
