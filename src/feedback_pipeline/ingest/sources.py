"""From ``[[sources]]`` settings to source objects (nothing is read until ``fetch``)."""

from __future__ import annotations

from collections.abc import Sequence

from feedback_pipeline.ingest.config import ConnectorConfig, FileSourceConfig, IngestConfig
from feedback_pipeline.ingest.files import FileSource
from feedback_pipeline.ingest.source import Source
from feedback_pipeline.records import RecordRules


def build_sources(configs: Sequence[FileSourceConfig | ConnectorConfig],
                  ingest: IngestConfig, rules: RecordRules | None = None) -> list[Source]:
    """One source object per configured source, in the configured order.

    ``rules``: the run's record checks; file sources apply them themselves so a rejection keeps
    the file's raw line (the ingest stage applies them to every source).
    """
    # Each connector pulls in httpx and its fetch code: imported only when configured.
    from feedback_pipeline.ingest.discourse.fetch import DiscourseSource
    from feedback_pipeline.ingest.github.fetch import GitHubSource
    from feedback_pipeline.ingest.intercom.fetch import IntercomSource
    from feedback_pipeline.ingest.slack.fetch import SlackSource
    from feedback_pipeline.ingest.zendesk.fetch import ZendeskSource

    connectors = {"discourse": DiscourseSource, "slack": SlackSource, "github": GitHubSource,
                  "zendesk": ZendeskSource, "intercom": IntercomSource}
    built: list[Source] = []
    for cfg in configs:
        if isinstance(cfg, FileSourceConfig):
            built.append(FileSource(cfg, ingest=ingest, rules=rules))
        else:
            built.append(connectors[cfg.type](cfg, max_body_chars=ingest.max_body_chars))
    return built


__all__ = ["build_sources"]
