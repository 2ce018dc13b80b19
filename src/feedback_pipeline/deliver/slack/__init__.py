"""Slack digest sink: the nightly digest posted with ``slack_sdk``, exactly once per digest date.

Bot mode posts with ``chat.postMessage`` and keeps the message ``ts`` (table ``slack_digests``,
``warehouse/schema_slack.sql``), so a retried or rerun flow edits the same message with
``chat.update``; the quotes go in a thread reply, updated the same way. Webhook mode posts one
message per date to an incoming webhook (no edits, no thread: webhooks cannot do either).
"""

from feedback_pipeline._exports import lazy

__all__ = ["SlackConfig", "SlackDeliveryError", "SlackDigestSink", "bot_token", "check_settings",
           "mark_shipped", "webhook_url"]
__getattr__ = lazy(__name__, {
    "SlackConfig": "config", "bot_token": "config", "check_settings": "config",
    "webhook_url": "config", "mark_shipped": "queries", "SlackDeliveryError": "sink",
    "SlackDigestSink": "sink"})
