"""The source interface every connector implements.

A source yields :class:`Batch` objects. The ingest stage commits each batch's rows and rejections
*and* the batch's cursor in one transaction, so a crash between batches loses nothing and a rerun
resumes from the last committed cursor without duplicating (rows upsert by (source, external_id)).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field

from feedback_pipeline.records import Item, Rejection


@dataclass
class Batch:
    items: list[Item] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)
    # The cursor to store once this batch is committed; None keeps the previous one.
    cursor: str | None = None
    # What the run summary should tell about this batch (records skipped or cut short).
    warnings: list[str] = field(default_factory=list)


class Source(ABC):
    """A place records come from. Building one never touches the network or disk."""

    name: str

    @abstractmethod
    def fetch(self, cursor: str | None) -> Iterator[Batch]:
        """Yield batches of records changed since ``cursor`` (None: everything)."""
        raise NotImplementedError


__all__ = ["Batch", "Source"]
