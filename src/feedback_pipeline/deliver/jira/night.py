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


def theme_key(theme_id: int) -> str:
    """The outbox key of a theme's issue requests."""
    return f"jira:theme:{theme_id}"


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

        try:
            return fn(*args, **kwargs)
        except JIRAError as exc:
            err = jira_error(exc, self.settings, operation, issue=issue)
            if exc.status_code in (401, 403):
                raise JiraAbort(str(err)) from exc
            raise JiraRequestFailed(str(err)) from exc
        except requests.Timeout as exc:
            raise JiraRequestFailed(f"Jira timed out during {operation}: {exc}",
                                    timeout=True) from exc
        except requests.RequestException as exc:
            raise JiraAbort(f"cannot reach Jira at {self.settings.server} during {operation}: "
                            f"{type(exc).__name__}") from exc

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


__all__ = ["JiraAbort", "JiraNight", "JiraRequestFailed", "theme_key"]
