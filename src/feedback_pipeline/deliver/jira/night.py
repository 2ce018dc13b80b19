"""One night of the Jira sink: its client, its bookkeeping, and the one place Jira's errors are
turned into ours.

``JiraSink`` and ``LineageFollower`` both work through a :class:`JiraNight`, so neither reads the
other's state. ``call`` sorts every failure of a request into two kinds: :class:`JiraAbort`
(credentials, permissions, an unreachable server: nothing else will work tonight) and
:class:`JiraRequestFailed` (this request failed; it stays in the outbox for the next run).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import duckdb
import requests

from feedback_pipeline.deliver import outbox
from feedback_pipeline.deliver.jira import store
from feedback_pipeline.deliver.jira.client import jira_error
from feedback_pipeline.deliver.jira.config import JiraConfig
from feedback_pipeline.deliver.jira.render import GLOBAL_ID
from feedback_pipeline.errors import SinkError

if TYPE_CHECKING:
    from jira import JIRA


class JiraAbort(SinkError):
    """Jira refuses us (auth, permission) or cannot be reached: stop the night."""


class JiraRequestFailed(Exception):
    """One request failed (an error answer or a timeout); the next run retries it."""

    def __init__(self, message: str, *, timeout: bool = False) -> None:
        super().__init__(message)
        self.timeout = timeout


FAILED = object()  # a request that failed and was recorded (update() itself returns None)


THEME_KEY_PREFIX = "jira:theme:"


def theme_key(theme_id: int) -> str:
    """The outbox key of a theme's issue requests."""
    return f"{THEME_KEY_PREFIX}{theme_id}"


@dataclass
class JiraNight:
    settings: JiraConfig
    con: duckdb.DuckDBPyConnection
    run_id: str
    as_of: datetime
    client: JIRA | None = None
    stats: dict[str, Any] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    def call(self, operation: str, fn: Any, *args: Any, issue: str | None = None,
             **kwargs: Any) -> Any:
        """Run one Jira request.

        Raises:
            JiraAbort: 401/403, or the server cannot be reached.
            JiraRequestFailed: any other error answer, or a timeout.
        """
        from jira.exceptions import JIRAError

        # Never "from exc": str(JIRAError) prints the request headers, Authorization included,
        # and a chained cause ends up in tracebacks and the run's logs.
        try:
            return fn(*args, **kwargs)
        except JIRAError as exc:
            err = jira_error(exc, self.settings, operation, issue=issue)
            if exc.status_code in (401, 403):
                raise JiraAbort(str(err)) from None
            raise JiraRequestFailed(str(err)) from None
        except requests.Timeout as exc:
            raise JiraRequestFailed(f"Jira timed out during {operation}: {exc}",
                                    timeout=True) from None
        except requests.RequestException as exc:
            raise JiraAbort(f"cannot reach Jira at {self.settings.server} during {operation}: "
                            f"{type(exc).__name__}") from None

    def try_call(self, operation: str, fn: Any, *args: Any, issue: str | None = None,
                 theme_id: int | None = None, **kwargs: Any) -> Any:
        """:meth:`call`, where a failed request of a theme is recorded and returns ``FAILED``
        (the night goes on with the other themes); without a theme it aborts the night."""
        try:
            return self.call(operation, fn, *args, issue=issue, **kwargs)
        except JiraRequestFailed as exc:
            if theme_id is None:
                raise JiraAbort(str(exc)) from None
            self.failed(theme_id, f"timeout during {operation}; the next run looks the issue up "
                        "by its label before creating" if exc.timeout else str(exc))
            return FAILED

    def save(self, row: store.IssueRow, *, event: str, detail: str = "") -> None:
        """Store the theme's issue row and log what happened to it."""
        row.updated_run = self.run_id
        store.save_issue(self.con, row, project=self.settings.project, run_id=self.run_id)
        store.log_event(self.con, run_id=self.run_id, theme_id=row.theme_id,
                        issue_key=row.issue_key, event=event, detail=detail)

    def evidence_url(self, theme_id: int) -> str:
        return self.settings.evidence_url(theme_id)

    def remote_link(self, theme: dict, key: str) -> Any:
        """Upsert the issue's link to the theme's evidence (one per theme, by global id)."""
        tid = theme["theme_id"]
        title = (f"Customer feedback theme {tid}: {theme['item_count']} reports, "
                 f"{theme['distinct_authors']} customers")
        return self.try_call("link", self.client.add_remote_link, key,
                             {"url": self.evidence_url(tid), "title": title[:255]},
                             globalId=GLOBAL_ID.format(theme_id=tid),
                             relationship="customer feedback", issue=key, theme_id=tid)

    def intent(self, theme_id: int, request: dict, *, key: str | None = None) -> None:
        """Record a request as pending before it is sent (the outbox pattern)."""
        outbox.record(self.con, key or theme_key(theme_id), sink="jira", theme_id=theme_id,
                      run_id=self.run_id, payload=request, status="pending")

    def sent(self, theme_id: int, issue_key: str | None, *, key: str | None = None) -> None:
        outbox.settle(self.con, key or theme_key(theme_id), status="sent", external_ref=issue_key)

    def failed(self, theme_id: int, error: str, *, key: str | None = None,
               issue_key: str | None = None) -> None:
        """Count the failure, keep the request in the outbox as failed, log it."""
        self.stats["failed"] += 1
        self.errors.append(error)
        outbox.settle(self.con, key or theme_key(theme_id), status="failed", error=error)
        store.log_event(self.con, run_id=self.run_id, theme_id=theme_id, issue_key=issue_key,
                        event="failed", detail=error)

    def issue_state(self, fields: dict) -> str:
        """'open', 'done' or 'declined' (Done with a resolution such as Won't Do)."""
        category = ((fields.get("status") or {}).get("statusCategory") or {}).get("key")
        if category != "done":
            return "open"
        resolution = (fields.get("resolution") or {}).get("name") or ""
        declined = {r.casefold() for r in self.settings.declined_resolutions}
        return "declined" if resolution.casefold() in declined else "done"


__all__ = ["FAILED", "THEME_KEY_PREFIX", "JiraAbort", "JiraNight", "JiraRequestFailed",
           "theme_key"]
