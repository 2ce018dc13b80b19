"""Settings of the deliver stage (``[deliver]``, ``[deliver.jira]``, ``[deliver.slack]``)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from feedback_pipeline.deliver.jira.config import JiraConfig
from feedback_pipeline.deliver.slack.config import SlackConfig
from feedback_pipeline.section import Section


class DeliverConfig(Section):
    dry_run: bool = True
    outbox: Path = Path("outbox")  # relative to the config file's folder
    jira: JiraConfig = Field(default_factory=JiraConfig)
    slack: SlackConfig = Field(default_factory=SlackConfig)


__all__ = ["DeliverConfig", "JiraConfig", "SlackConfig"]
