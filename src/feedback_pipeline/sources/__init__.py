"""Sources: where items come from. Every source yields :class:`Batch` objects with a cursor."""

from __future__ import annotations

from ..config import FileSourceConfig, Settings
from .base import Batch, Source
from .files import FileSource


def build_sources(settings: Settings) -> list[Source]:
    """Build the configured sources (nothing is read until ``fetch``)."""
    # Imported here: the connectors import ``sources.base``, so a top-level import would cycle.
    from ..connectors.discourse.fetch import DiscourseSource
    from ..connectors.github.fetch import GitHubSource
    from ..connectors.intercom.fetch import IntercomSource
    from ..connectors.slack.fetch import SlackSource
    from ..connectors.zendesk.fetch import ZendeskSource

    connectors = {"discourse": DiscourseSource, "slack": SlackSource, "github": GitHubSource,
                  "zendesk": ZendeskSource, "intercom": IntercomSource}
    built: list[Source] = []
    for cfg in settings.sources:
        if isinstance(cfg, FileSourceConfig):
            built.append(FileSource(cfg, max_body_chars=settings.ingest.max_body_chars))
        else:
            built.append(connectors[cfg.type](cfg, max_body_chars=settings.ingest.max_body_chars))
    return built


__all__ = ["Batch", "FileSource", "Source", "build_sources"]
