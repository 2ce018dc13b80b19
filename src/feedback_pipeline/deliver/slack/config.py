"""Typed settings of the Slack digest sink (``[deliver.slack]``) and where its secrets come from.

The secrets
are never in that file: the bot token comes from the variable named by ``token_env``
(``FP_SLACK_TOKEN``), the incoming-webhook URL from ``webhook_url_env`` (``FP_SLACK_WEBHOOK_URL``).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr, field_validator

from feedback_pipeline.errors import ConfigError
from feedback_pipeline.secrets import resolve_secret
from feedback_pipeline.section import Section


class SlackConfig(Section):
    """The nightly Slack digest (``deliver/slack``); secrets come from env vars."""

    enabled: bool = False
    mode: Literal["bot", "webhook"] = Field(
        "bot", description="'bot': chat.postMessage/chat.update with a bot token (threads, "
        "updates on rerun); 'webhook': an incoming-webhook URL (posts once, no thread).")
    channel: str = Field("", description="Channel name ('#community') or id ('C0123'); bot mode.")
    top_n: int = Field(10, ge=1, description="Themes in the 'top themes' section.")
    new_n: int = Field(5, ge=0)
    rising_n: int = Field(5, ge=0)
    shipped_n: int = Field(5, ge=0)
    threads_per_theme: int = Field(5, ge=0, description="Community threads per shipped theme.")
    quotes_per_theme: int = Field(3, ge=0, description="Quotes per theme in the thread reply.")
    condensed: bool = Field(True, description="Two lines per theme; False adds score and 'why'.")
    quiet_night: Literal["one line", "silent"] = Field(
        "one line", description="Nothing new: post one short line, or post nothing.")
    token_env: str = "FP_SLACK_TOKEN"
    webhook_url_env: str = "FP_SLACK_WEBHOOK_URL"
    base_url: str = Field("https://slack.com/api/", description="Web API root (emulators).")
    max_retries: int = Field(3, ge=0, description="Retries on 429, honouring Retry-After.")
    timeout_seconds: int = 30

    @field_validator("quiet_night", mode="before")
    @classmethod
    def _quiet_night_spelling(cls, v: object) -> object:
        return "one line" if v in ("one_line", "one-line", "oneline") else v


def bot_token(settings: SlackConfig) -> SecretStr:
    """The bot token (``xoxb-…``) from the environment; fails naming the variable to set."""
    return resolve_secret(settings.token_env, what="the Slack bot token")


def webhook_url(settings: SlackConfig) -> SecretStr:
    """The incoming-webhook URL (a secret: anyone holding it can post) from the environment."""
    return resolve_secret(settings.webhook_url_env, what="the Slack incoming-webhook URL")


def check_settings(settings: SlackConfig) -> None:
    """Fail at start-up (no network) when the settings cannot work."""
    if settings.mode == "bot" and not settings.channel.strip():
        raise ConfigError("deliver.slack.channel is empty: set it to the digest channel, "
                          "e.g. channel = \"#community-feedback\" (or its id, C0123…)")
    if not settings.base_url.endswith("/"):
        raise ConfigError(f"deliver.slack.base_url must end with '/', got {settings.base_url!r}")


__all__ = ["SlackConfig", "bot_token", "check_settings", "webhook_url"]
