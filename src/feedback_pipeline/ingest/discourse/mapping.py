"""Discourse topic + post payloads -> Items (pure).

The first post of a topic carries the topic's title (the request); replies have no title and
are kept as evidence. Category and tags go to ``tags`` (``category:<id>``), likes to ``votes``.

Topic views carry ``tags`` as ``{id, name, slug}`` objects (strings before February 2026): the
name is kept. Their posts have ``cooked`` HTML and no ``raw``, and their ``actions_summary``
items are ``{id, can_act}`` without a count, so likes come from ``/posts/{id}.json``, the one
place Discourse's description gives the like ``count`` (``likes`` maps post id -> count).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from feedback_pipeline.ingest.connector import Row, names_of, to_row

REGULAR_POST = 1
LIKE_ACTION = 2
BOT_USERNAMES = frozenset({"system", "discobot"})


def like_count(post: dict[str, Any]) -> int:
    """Likes of a ``/posts/{id}.json`` body (its ``actions_summary`` like ``count``)."""
    return sum(int(a.get("count") or 0) for a in post.get("actions_summary") or []
               if isinstance(a, dict) and a.get("id") == LIKE_ACTION)


def changed_at(post: dict[str, Any]) -> str:
    """When the post last changed: its edit or its deletion, whichever is later."""
    return max(str(post.get("updated_at") or ""), str(post.get("deleted_at") or ""))


def author_role(post: dict[str, Any], staff_groups: frozenset[str] = frozenset()) -> str:
    """bot (system users have negative ids), staff (the post's ``staff``/``admin``/``moderator``
    flags or a configured primary group), else customer."""
    if (post.get("user_id") or 0) < 0 or post.get("username") in BOT_USERNAMES:
        return "bot"
    if any(post.get(flag) is True for flag in ("staff", "admin", "moderator")) \
            or post.get("primary_group_name") in staff_groups:
        return "staff"
    return "customer"


def map_post(
    post: dict[str, Any], topic: dict[str, Any], *, source: str, base_url: str,
    max_body_chars: int, votes: int = 0, staff_groups: frozenset[str] = frozenset(),
) -> Row:
    topic_id = topic.get("id")
    number = post.get("post_number")
    category = topic.get("category_id")
    deleted = bool(post.get("deleted_at") or topic.get("deleted_at"))
    body = post.get("raw") or post.get("cooked") or ""
    if deleted and not body:
        body = "(deleted)"
    role = author_role(post, staff_groups)
    record = {
        "source": source,
        "kind": "community_post",
        "external_id": str(post.get("id")),
        "url": f"{base_url.rstrip('/')}/t/{topic.get('slug') or '-'}/{topic_id}/{number}",
        "author": post.get("username"),
        "is_bot": role == "bot",
        "author_role": role,
        # The topic is the thread; a later post answers the one it names, else the first.
        "thread_id": f"topic:{topic_id}",
        "reply_to": None if number == 1
        else f"topic:{topic_id}/{post.get('reply_to_post_number') or 1}",
        "title": topic.get("title") if number == 1 else "",
        "body": body,
        "created_at": post.get("created_at"),
        "updated_at": changed_at(post) or None,
        "tags": [*names_of(topic.get("tags")), *([f"category:{category}"] if category else [])],
        "votes": votes,
        "deleted": deleted,
    }
    return to_row(record, raw=post, position=f"topic:{topic_id}/post:{number}",
                  max_body_chars=max_body_chars)


def posts_to_map(posts: list[dict[str, Any]], changed_after: str | None) -> list[dict[str, Any]]:
    """The regular posts that changed after ``changed_after`` (all if None)."""
    return [p for p in posts if p.get("post_type", REGULAR_POST) == REGULAR_POST
            and (changed_after is None or changed_at(p) > changed_after)]


def map_topic(
    topic: dict[str, Any], posts: list[dict[str, Any]], *, source: str, base_url: str,
    changed_after: str | None, max_body_chars: int, likes: Mapping[int, int] | None = None,
    staff_groups: frozenset[str] = frozenset(),
) -> list[Row]:
    """Rows for the topic's regular posts that changed after ``changed_after`` (all if None)."""
    likes = likes or {}
    return [
        map_post(p, topic, source=source, base_url=base_url, max_body_chars=max_body_chars,
                 votes=likes.get(p.get("id"), 0),  # type: ignore[arg-type]
                 staff_groups=staff_groups)
        for p in posts_to_map(posts, changed_after)
    ]


__all__ = ["author_role", "changed_at", "like_count", "map_post", "map_topic", "posts_to_map"]
