"""Slack digest sink: the nightly digest posted with ``slack_sdk``, exactly once per digest date.

Bot mode posts with ``chat.postMessage`` and keeps the message ``ts`` (table ``slack_digests``,
``warehouse/schema_slack.sql``), so a retried or rerun flow edits the same message with
``chat.update``; the quotes go in a thread reply, updated the same way. Webhook mode posts one
message per date to an incoming webhook (no edits, no thread: webhooks cannot do either).
"""

from ...deliver.slack_digest import mark_shipped
from .settings import SlackSettings, bot_token, check_settings, webhook_url
from .sink import SlackDeliveryError, SlackDigestSink

__all__ = ["SlackDeliveryError", "SlackDigestSink", "SlackSettings", "bot_token",
           "check_settings", "mark_shipped", "webhook_url"]
