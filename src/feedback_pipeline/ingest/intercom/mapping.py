"""Intercom conversation payload (with ``conversation_parts``) -> Item (pure)."""

from __future__ import annotations

from typing import Any

from feedback_pipeline.ingest.connector import Row, to_row

CUSTOMER_TYPES = frozenset({"user", "lead", "contact"})
# Intercom author types: admin (a teammate), bot (Fin, operator), user/lead/contact (a customer).
ROLE_OF_TYPE = {"admin": "staff", "team": "staff", "bot": "bot"}


def role_of(author: dict[str, Any] | None) -> str:
    return ROLE_OF_TYPE.get(str((author or {}).get("type")), "customer")


def thread_replies(conversation: dict[str, Any]) -> list[dict[str, Any]]:
    """The conversation's comment parts (not notes, assignments or state changes) as replies;
    a part without a time cannot be placed in the thread and is left out (never the record)."""
    parts = (conversation.get("conversation_parts") or {}).get("conversation_parts") or []
    return [
        {"id": str(p.get("id")), "created_at": p.get("created_at"),
         "author": (p.get("author") or {}).get("id"), "role": role_of(p.get("author"))}
        for p in parts if p.get("part_type") == "comment" and p.get("created_at")
    ]


def customer_parts(conversation: dict[str, Any]) -> list[str]:
    """Bodies of the customer's later comments (teammate replies and notes are not feedback)."""
    parts = (conversation.get("conversation_parts") or {}).get("conversation_parts") or []
    return [
        p["body"]
        for p in parts
        if p.get("part_type") == "comment"
        and (p.get("author") or {}).get("type") in CUSTOMER_TYPES
        and p.get("body")
    ]


def map_conversation(
    conversation: dict[str, Any], *, source: str, app_url: str | None, max_body_chars: int
) -> Row:
    """The opening message plus the customer's later parts; tags and author kept."""
    conv_id = conversation.get("id")
    opening = conversation.get("source") or {}
    author = opening.get("author") or {}
    body = "\n\n".join(b for b in [opening.get("body") or "", *customer_parts(conversation)] if b)
    record = {
        "source": source,
        "kind": "support_ticket",
        "external_id": str(conv_id) if conv_id is not None else None,
        "url": f"{app_url.rstrip('/')}/conversation/{conv_id}" if app_url else None,
        "author": author.get("id"),
        "is_bot": author.get("type") == "bot",
        "author_role": role_of(author),
        "thread_id": str(conv_id) if conv_id is not None else None,
        "replies": thread_replies(conversation) if "conversation_parts" in conversation else None,
        "title": conversation.get("title") or opening.get("subject") or "",
        "body": body,
        "created_at": conversation.get("created_at"),
        "updated_at": conversation.get("updated_at"),
        "tags": [t["name"] for t in (conversation.get("tags") or {}).get("tags") or []
                 if t.get("name")],
    }
    return to_row(record, raw=conversation, position=f"conversation:{conv_id}",
                  max_body_chars=max_body_chars)


__all__ = ["customer_parts", "map_conversation", "role_of", "thread_replies"]
