"""Sources: where items come from. Every source yields :class:`Batch` objects with a cursor."""

from __future__ import annotations

from ..config import FileSourceConfig, Settings
from .base import Batch, Source
from .files import FileSource


def build_sources(settings: Settings) -> list[Source]:
    """Build the configured sources (nothing is read until ``fetch``)."""
    built: list[Source] = []
    for cfg in settings.sources:
        if isinstance(cfg, FileSourceConfig):
            built.append(FileSource(cfg, max_body_chars=settings.ingest.max_body_chars))
    return built


__all__ = ["Batch", "FileSource", "Source", "build_sources"]
