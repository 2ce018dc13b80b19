"""GitHub issue and discussion payloads -> Item (pure).

Comment counts (``comments``, ``comments.totalCount``) are read but not stored: the item schema
has no field for them.
"""

from __future__ import annotations

from typing import Any

from feedback_pipeline.ingest.connector import Row, names_of, to_row


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
        "tags": names_of(issue.get("labels")),  # strings or objects
        "votes": (issue.get("reactions") or {}).get("+1", 0),
    }
    return to_row(record, raw=issue, position=f"{repo}#{issue.get('number')}",
                  max_body_chars=max_body_chars)


def map_discussion(node: dict[str, Any], *, source: str, repo: str, max_body_chars: int) -> Row:
    """One node of the GraphQL ``discussions`` connection: upvotes are its votes."""
    author = node.get("author") or {}  # null for a deleted account
    login = author.get("login")
    category = (node.get("category") or {}).get("name")
    record = {
        "source": source,
        "kind": "community_post",
        "external_id": f"{repo}/discussions/{node.get('number')}",
        "url": node.get("url"),
        "author": login,
        "is_bot": author.get("__typename") == "Bot" or str(login or "").endswith("[bot]"),
        "title": node.get("title"),
        "body": node.get("body") or "",
        "created_at": node.get("createdAt"),
        "updated_at": node.get("updatedAt"),
        "tags": ["discussion", *([f"category:{category}"] if category else [])],
        "votes": node.get("upvoteCount") or 0,
    }
    return to_row(record, raw=node, position=f"{repo}/discussions/{node.get('number')}",
                  max_body_chars=max_body_chars)


__all__ = ["is_pull_request", "map_discussion", "map_issue"]
