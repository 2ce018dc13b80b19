"""Zendesk incremental-export ticket payload -> Item (pure)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from feedback_pipeline.ingest.connector import Row, to_row
from feedback_pipeline.records import PART_SEPARATOR


def organisations(page: dict[str, Any]) -> dict[int, str]:
    """Organisation names sideloaded with ``include=organizations`` (id -> name)."""
    return {o["id"]: o.get("name") or str(o["id"]) for o in page.get("organizations") or []}


def public_replies(comments: list[dict[str, Any]], *, limit: int) -> list[str]:
    """Bodies of the public comments after the first one (the description), at most ``limit``."""
    bodies = []
    for comment in comments[1:]:
        body = (comment.get("plain_body") or comment.get("body") or "").strip()
        if comment.get("public") and body:
            bodies.append(body)
    return bodies[:limit]


def thread_replies(comments: list[dict[str, Any]], requester: object) -> list[dict[str, Any]]:
    """The public comments after the description as pulse replies: the requester's own are the
    customer's, anyone else's an agent's (staff). Private notes are not answers; a comment
    without a time cannot be placed in the thread and is left out (never the record)."""
    return [
        {"id": str(c.get("id")), "created_at": c.get("created_at"),
         "author": str(c["author_id"]) if c.get("author_id") is not None else None,
         "role": "customer" if c.get("author_id") == requester else "staff"}
        for c in comments[1:] if c.get("public") and c.get("created_at")
    ]


def with_replies(description: str, replies: Sequence[str], *, max_chars: int) -> str:
    """The description, then each reply after :data:`PART_SEPARATOR` (the cleaner cuts quotes
    and signatures per part); replies that would push the body over ``max_chars`` are left out."""
    body = description
    for reply in replies:
        longer = f"{body}{PART_SEPARATOR}{reply}"
        if len(longer) > max_chars:
            break
        body = longer
    return body


def map_ticket(
    ticket: dict[str, Any],
    *,
    source: str,
    base_url: str,
    orgs: dict[int, str],
    max_body_chars: int,
    replies: Sequence[str] = (),
    comments: list[dict[str, Any]] | None = None,
) -> Row:
    """Subject + description (+ ``replies``: public comments); tags, channel (as
    ``channel:<x>``) and organisation kept.

    A deleted ticket (``status: deleted``) is kept and marked deleted.
    """
    ticket_id = ticket.get("id")
    deleted = ticket.get("status") == "deleted"
    channel = (ticket.get("via") or {}).get("channel")
    org_id = ticket.get("organization_id")
    title = ticket.get("subject") or ""
    body = with_replies(ticket.get("description") or "", replies, max_chars=max_body_chars)
    if deleted and not (title or body):
        title = f"(deleted ticket {ticket_id})"
    requester = ticket.get("requester_id")
    record = {
        "source": source,
        "kind": "support_ticket",
        "external_id": str(ticket_id) if ticket_id is not None else None,
        "url": f"{base_url.rstrip('/')}/agent/tickets/{ticket_id}",
        "author": str(requester) if requester is not None else None,
        "title": title,
        "body": body,
        "created_at": ticket.get("created_at"),
        "updated_at": ticket.get("updated_at"),
        "tags": [*(ticket.get("tags") or []), *([f"channel:{channel}"] if channel else [])],
        "customer": orgs.get(org_id, str(org_id)) if org_id is not None else None,
        "deleted": deleted,
        "author_role": "customer",
        "thread_id": str(ticket_id) if ticket_id is not None else None,
        # None when comments were not read (max_comments 0, or a deleted ticket): keep what is stored
        "replies": thread_replies(comments, requester) if comments is not None else None,
    }
    return to_row(record, raw=ticket, position=f"ticket:{ticket_id}", max_body_chars=max_body_chars)


__all__ = ["map_ticket", "organisations", "public_replies", "thread_replies", "with_replies"]
