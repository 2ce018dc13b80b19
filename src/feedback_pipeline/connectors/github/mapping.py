"""GitHub issue payload -> Item (pure)."""

from __future__ import annotations

from typing import Any

from ..common import Row, to_row


def is_pull_request(issue: dict[str, Any]) -> bool:
    return "pull_request" in issue


def map_issue(issue: dict[str, Any], *, source: str, repo: str, max_body_chars: int) -> Row:
    """One issue of ``GET /repos/{repo}/issues``: 👍 reactions are its votes."""
    user = issue.get("user") or {}
    login = user.get("login")
    record = {
        "source": source,
        "kind": "community_post",
        "external_id": f"{repo}#{issue.get('number')}",
        "url": issue.get("html_url"),
        "author": login,
        "is_bot": user.get("type") == "Bot" or str(login or "").endswith("[bot]"),
        "title": issue.get("title"),
        "body": issue.get("body") or "",
        "created_at": issue.get("created_at"),
        "updated_at": issue.get("updated_at"),
        "tags": [label["name"] for label in issue.get("labels") or [] if label.get("name")],
        "votes": (issue.get("reactions") or {}).get("+1", 0),
    }
    return to_row(record, raw=issue, position=f"{repo}#{issue.get('number')}",
                  max_body_chars=max_body_chars)


__all__ = ["is_pull_request", "map_issue"]
