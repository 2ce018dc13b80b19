"""Typed settings of the Slack digest sink (``[deliver.slack]``) and where its secrets come from.

The secrets
are never in that file: the bot token comes from the variable named by ``token_env``
(``FP_SLACK_TOKEN``), the incoming-webhook URL from ``webhook_url_env`` (``FP_SLACK_WEBHOOK_URL``).
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, SecretStr, field_validator

from feedback_pipeline.errors import ConfigError
from feedback_pipeline.secrets import resolve_secret
from feedback_pipeline.section import Section

KIND_OF = {"community": "community_post", "support": "support_ticket"}


def check_sources(settings: SlackConfig, configured: list[str], *, file_sources: bool) -> None:
    """Fail when ``sources`` names a source that is not configured.

    A file source's records may carry their own ``source`` labels (a mixed export, like the
    demo), unknown until they are read: with a file source configured, other names are allowed.
    Raises ``ValueError`` (the typed config turns it into a ``ConfigError`` naming the setting).
    """
    unknown = [s for s in settings.sources if s not in configured]
    if unknown and not file_sources:
        raise ValueError(
            f"deliver.slack.sources names {', '.join(map(repr, unknown))}, which is not a "
            f"configured source; the configured sources are: {', '.join(configured) or 'none'}. "
            "Use those names (or kinds = [\"community\"] for every community source).")


class SlackConfig(Section):
    """The nightly Slack digest (``deliver/slack``); secrets come from env vars."""

    enabled: bool = False
    mode: Literal["bot", "webhook"] = Field(
        "bot", description="'bot': chat.postMessage/chat.update with a bot token (threads, "
        "updates on rerun); 'webhook': an incoming-webhook URL (posts once, no thread).")
    channel: str = Field("", description="Channel name ('#community') or id ('C0123'); bot mode.")
    top_n: int = Field(10, ge=1, description="Themes in the 'top themes' section.")
    new_n: int = Field(5, ge=0, description="Themes created since the last digest listed under "
                       "'rising and new' when they are not among the top themes.")
    rising_n: int = Field(5, ge=0, description="Rising themes (trend flag) below the top themes.")
    shipped_n: int = Field(5, ge=0)
    praise_n: int = Field(5, ge=0, description="Praise items under 'praise to thank'.")
    threads_per_theme: int = Field(3, ge=0, description="Community threads to answer per theme "
                                   "(top and shipped themes).")
    quotes_per_theme: int = Field(3, ge=0, description="Quotes per theme in the thread reply.")
    pulse: bool = Field(True, description="Show the community pulse block (thresholds: [pulse]) "
                        "once a source brings thread data.")
    sources: list[str] = Field(
        default_factory=list, description="Only items from these sources (the items' `source`: "
        "a [[sources]] name, or the label a file source's records carry); empty: every source.")
    kinds: list[Literal["community", "support"]] = Field(
        default_factory=list, description="Only these kinds of items: 'community' (forum, "
        "GitHub, Slack posts), 'support' (tickets); empty: both.")
    segments: list[str] = Field(
        default_factory=list, description="Only items from accounts of these segments (the "
        "[accounts] file's `segment`, any case); empty: every account and none.")
    plans: list[str] = Field(
        default_factory=list, description="Only items from accounts on these plans (the "
        "account's plan, else the item's own); empty: every plan.")
    min_customers: int = Field(3, ge=1, description="With a sources/kinds filter, a theme "
                               "needs this many distinct customers among the items it keeps.")
    report_url: str = Field("", description="Where the HTML report is published; the digest "
                            "links to it. Empty: no link.")
    condensed: bool = Field(True, description="Two lines per theme; False adds score and 'why'.")
    quiet_night: Literal["one line", "silent"] = Field(
        "one line", description="Nothing new: post one short line, or post nothing.")
    token_env: str = "FP_SLACK_TOKEN"
    webhook_url_env: str = "FP_SLACK_WEBHOOK_URL"
    base_url: str = Field("https://slack.com/api/", description="Web API root (emulators).")
    max_retries: int = Field(3, ge=0, description="Retries on 429, honouring Retry-After.")
    timeout_seconds: int = 30

    @field_validator("kinds", mode="before")
    @classmethod
    def _kind_spelling(cls, v: object) -> object:
        # The warehouse spells them community_post / support_ticket; accept those too.
        spelled = {stored: kind for kind, stored in KIND_OF.items()}
        return [spelled.get(k, k) for k in v] if isinstance(v, list) else v

    @field_validator("report_url")
    @classmethod
    def _report_url_is_http(cls, v: str) -> str:
        v = v.strip()
        if v and not re.fullmatch(r"https?://\S+", v):
            raise ValueError(f"report_url must be an http(s) URL, got {v!r}")
        return v

    @property
    def item_kinds(self) -> list[str]:
        """``kinds`` as stored in ``items.kind``."""
        return [KIND_OF[k] for k in self.kinds]

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


__all__ = ["KIND_OF", "SlackConfig", "bot_token", "check_settings", "check_sources",
           "webhook_url"]
