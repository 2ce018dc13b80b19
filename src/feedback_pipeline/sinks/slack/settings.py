"""Typed settings of the Slack digest sink and where its secrets come from.

The settings object is ``config.SlackConfig`` (``[deliver.slack]`` in the TOML file); the secrets
are never in that file: the bot token comes from the variable named by ``token_env``
(``FP_SLACK_TOKEN``), the incoming-webhook URL from ``webhook_url_env`` (``FP_SLACK_WEBHOOK_URL``).
"""

from __future__ import annotations

from pydantic import SecretStr

from ...config import SlackConfig, secret_from_env
from ...errors import ConfigError

SlackSettings = SlackConfig


def bot_token(settings: SlackSettings) -> SecretStr:
    """The bot token (``xoxb-…``) from the environment; fails naming the variable to set."""
    return secret_from_env(settings.token_env, what="the Slack bot token")


def webhook_url(settings: SlackSettings) -> SecretStr:
    """The incoming-webhook URL (a secret: anyone holding it can post) from the environment."""
    return secret_from_env(settings.webhook_url_env, what="the Slack incoming-webhook URL")


def check_settings(settings: SlackSettings) -> None:
    """Fail at start-up (no network) when the settings cannot work."""
    if settings.mode == "bot" and not settings.channel.strip():
        raise ConfigError("deliver.slack.channel is empty: set it to the digest channel, "
                          "e.g. channel = \"#community-feedback\" (or its id, C0123…)")
    if not settings.base_url.endswith("/"):
        raise ConfigError(f"deliver.slack.base_url must end with '/', got {settings.base_url!r}")


__all__ = ["SlackSettings", "bot_token", "check_settings", "webhook_url"]
