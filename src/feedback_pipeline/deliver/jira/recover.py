"""Finding the issue a timed-out create may have made, without trusting search to be fresh.

Jira's search "recent updates might not be immediately visible": the label search that adopts
an issue whose create answer was lost can miss an issue made minutes ago, and a rerun would file
it again. So every create carries its idempotency marker in the request itself (the theme label
``feedback-theme-<id>``, set atomically with the issue), and before it is sent the outbox intent
records ``after_key``: the highest issue number of the project known then (from the stored
issues and one search; a stale search only makes that number lower, which is safe). A theme left
unsettled by such a create is then looked for by *direct* reads, ``GET /issue/<PROJECT>-<n>`` for
n above ``after_key``, which are not served by the search index: keys are allocated in order, so
the issue is among them. The walk stops after ``create_probe_gap`` missing keys in a row (the end
of the project; deleted or moved issues leave gaps) or ``create_probe_max`` reads.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from feedback_pipeline.deliver import outbox
from feedback_pipeline.deliver.jira import store
from feedback_pipeline.deliver.jira.night import JiraNight, theme_key
from feedback_pipeline.deliver.jira.render import theme_label

if TYPE_CHECKING:
    from jira import JIRA


def key_number(key: str, project: str) -> int | None:
    match = re.fullmatch(rf"{re.escape(project)}-(\d+)", key or "")
    return int(match.group(1)) if match else None


def high_water(night: JiraNight, issues: dict[int, store.IssueRow]) -> int:
    """The highest issue number of the project known now (0 for an empty project)."""
    project = night.settings.project
    known = [key_number(r.issue_key, project) for r in issues.values()]
    found = night.call("search", night.client.search_issues,
                       f'project = "{project}" ORDER BY key DESC', maxResults=1, fields=["key"])
    known += [key_number(i.key, project) for i in found]
    return max((n for n in known if n is not None), default=0)


def attempted_after(night: JiraNight, theme_id: int) -> int | None:
    """``after_key`` of the theme's create intent, if a create was about to be sent."""
    payload = outbox.payload(night.con, theme_key(theme_id)) or {}
    value = payload.get("after_key") if "create" in payload else None
    return int(value) if isinstance(value, int) else None


def _issue_or_none(client: JIRA, key: str) -> Any:
    from jira.exceptions import JIRAError

    try:
        return client.issue(key, fields="summary,labels,priority")
    except JIRAError as exc:
        if exc.status_code == 404:  # never created, deleted, or moved to another project
            return None
        raise


def find_created(night: JiraNight, after: dict[int, int]) -> dict[int, Any]:
    """Theme id -> the issue carrying its label, read key by key above each theme's mark."""
    s = night.settings
    wanted = {theme_label(t): t for t in after}
    found: dict[int, Any] = {}
    n, misses, reads = min(after.values()), 0, 0
    while wanted and misses < s.create_probe_gap and reads < s.create_probe_max:
        n += 1
        reads += 1
        key = f"{s.project}-{n}"
        issue = night.call("read", _issue_or_none, night.client, key, issue=key)
        if issue is None:
            misses += 1
            continue
        misses = 0
        for label in issue.raw["fields"].get("labels") or []:
            theme_id = wanted.get(label)
            if theme_id is not None and n > after[theme_id]:
                found[theme_id] = issue
                del wanted[label]
    return found


__all__ = ["attempted_after", "find_created", "high_water", "key_number"]
