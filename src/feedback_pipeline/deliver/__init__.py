"""Delivery: what goes to Jira and Slack, recorded in the ``deliveries`` outbox first."""

from .jira_payload import jira_issue_fields
from .outbox import deliver_dry_run, record_delivery
from .slack_digest import slack_digest

__all__ = ["deliver_dry_run", "jira_issue_fields", "record_delivery", "slack_digest"]
