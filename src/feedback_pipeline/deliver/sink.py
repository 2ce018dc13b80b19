"""What every sink is: one verb, ``deliver``, for one run's ranking."""

from __future__ import annotations

from typing import Protocol

from feedback_pipeline.warehouse.runs import Run


class Sink(Protocol):
    """A destination of the ranked themes (Jira, Slack, the outbox files).

    ``deliver`` records its intent in the outbox (``deliver.outbox``) before sending anything,
    returns counts for the run's stats, and raises ``SinkError`` when something was not
    delivered (it stays in the outbox for the next run).
    """

    def deliver(self, run: Run, ranking: list[dict]) -> dict:
        raise NotImplementedError


__all__ = ["Sink"]
