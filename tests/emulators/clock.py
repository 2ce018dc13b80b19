"""A deterministic clock for the emulators' ``created_at``/``updated_at`` values."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


class Clock:
    """Starts at ``start`` and moves one ``step`` per :meth:`tick`."""

    def __init__(self, start: datetime | None = None, step: timedelta = timedelta(minutes=1)):
        self.now = start or datetime(2024, 5, 1, tzinfo=UTC)
        self.step = step

    def tick(self) -> datetime:
        self.now += self.step
        return self.now

    def iso(self, ms: bool = False) -> str:
        """ISO 8601 UTC with ``Z`` (GitHub, Zendesk) or milliseconds (Discourse)."""
        text = self.tick().strftime("%Y-%m-%dT%H:%M:%S")
        return f"{text}.000Z" if ms else f"{text}Z"

    def epoch(self) -> int:
        return int(self.tick().timestamp())


__all__ = ["Clock"]
