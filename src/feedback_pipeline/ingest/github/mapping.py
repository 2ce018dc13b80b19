"""GitHub issue and discussion payloads -> Item (pure).

An issue's comments become its thread's replies (author, role, time; their text is not read
into the body: a discussion under an issue is not the request). Discussions' comment counts
(``comments.totalCount``) are read but not stored.
"""

from __future__ import annotations

from typing import Any

from feedback_pipeline.ingest.connector import Row, names_of, to_row

# GitHub's author_association values of people with a role in the repository.
STAFF_ASSOCIATIONS = frozenset({"OWNER", "MEMBER", "COLLABORATOR"})


def author_role(association: object, is_bot: bool) -> str:
    if is_bot:
        return "bot"
    return "staff" if association in STAFF_ASSOCIATIONS else "customer"


def is_pull_request(issue: dict[str, Any]) -> bool:
    return "pull_request" in issue


def is_bot_user(user: dict[str, Any]) -> bool:
    return user.get("type") == "Bot" or str(user.get("login") or "").endswith("[bot]")


def thread_replies(comments: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """An issue's comments as pulse replies, the role from each comment's
    ``author_association``; a comment without a time cannot be placed and is left out."""
    replies = []
    for c in comments:
        user = c.get("user") or {}  # null for a deleted account
        bot = is_bot_user(user)
        if c.get("created_at") and c.get("id") is not None:
            replies.append({"id": str(c["id"]), "created_at": c["created_at"],
                            "author": user.get("login"),
                            "role": author_role(c.get("author_association"), bot)})
    return replies


def map_issue(issue: dict[str, Any], *, source: str, repo: str, max_body_chars: int,
              comments: list[dict[str, Any]] | None = None) -> Row:
    """One issue of ``GET /repos/{repo}/issues``: 👍 reactions are its votes. With
    ``comments`` (None: not read) the issue is a thread and they are its replies."""
    user = issue.get("user") or {}
    login = user.get("login")
    is_bot = is_bot_user(user)
    external_id = f"{repo}#{issue.get('number')}"
    record = {
        "source": source,
        "kind": "community_post",
        "external_id": external_id,
        "url": issue.get("html_url"),
        "author": login,
        "is_bot": is_bot,
        "author_role": author_role(issue.get("author_association"), is_bot),
        "title": issue.get("title"),
        "body": issue.get("body") or "",
        "created_at": issue.get("created_at"),
        "updated_at": issue.get("updated_at"),
        "tags": names_of(issue.get("labels")),  # strings or objects
        "votes": (issue.get("reactions") or {}).get("+1", 0),
        "thread_id": external_id if comments is not None else None,
        "replies": thread_replies(comments) if comments is not None else None,
    }
    return to_row(record, raw=issue, position=external_id,
                  max_body_chars=max_body_chars)


def map_discussion(node: dict[str, Any], *, source: str, repo: str, max_body_chars: int) -> Row:
    """One node of the GraphQL ``discussions`` connection: upvotes are its votes."""
    author = node.get("author") or {}  # null for a deleted account
    login = author.get("login")
    category = (node.get("category") or {}).get("name")
    is_bot = author.get("__typename") == "Bot" or is_bot_user(author)
    record = {
        "source": source,
        "kind": "community_post",
        "external_id": f"{repo}/discussions/{node.get('number')}",
        "url": node.get("url"),
        "author": login,
        "is_bot": is_bot,
        "author_role": author_role(node.get("authorAssociation"), is_bot),
        "title": node.get("title"),
        "body": node.get("body") or "",
        "created_at": node.get("createdAt"),
        "updated_at": node.get("updatedAt"),
        "tags": ["discussion", *([f"category:{category}"] if category else [])],
        "votes": node.get("upvoteCount") or 0,
    }
    return to_row(record, raw=node, position=f"{repo}/discussions/{node.get('number')}",
                  max_body_chars=max_body_chars)


__all__ = ["author_role", "is_bot_user", "is_pull_request", "map_discussion", "map_issue",
           "thread_replies"]
