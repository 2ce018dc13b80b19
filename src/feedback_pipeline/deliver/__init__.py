"""Deliver stage: the ranked themes to Jira, Slack and the outbox files.

One outbox API for the ``deliveries`` table (``outbox.py``), one :class:`Sink` protocol with one
verb, ``deliver`` (``sink.py``), followed by ``OutboxFiles`` (``dry_run.py``), ``JiraSink``
(``jira/``) and ``SlackDigestSink`` (``slack/``). Each sink's folder keeps what a message says
(``render.py``, ``digest.py``: pure) apart from its warehouse queries and its client.
"""

from feedback_pipeline._exports import lazy

__all__ = ["JiraSink", "OutboxFiles", "Sink", "SlackDigestSink"]
__getattr__ = lazy(__name__, {"Sink": "sink", "OutboxFiles": "dry_run", "JiraSink": "jira",
                              "SlackDigestSink": "slack"})
