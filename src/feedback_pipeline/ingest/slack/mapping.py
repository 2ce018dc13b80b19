"""Slack message payloads -> Items (pure). Bot messages, joins and other events are skipped."""

from __future__ import annotations

from typing import Any

from feedback_pipeline.ingest.connector import Row, to_row

# Subtypes that are people writing; every other subtype (joins, topic changes, bots) is skipped.
KEPT_SUBTYPES = frozenset({None, "thread_broadcast", "file_share", "me_message", "tombstone"})
UPVOTES = frozenset({"+1", "thumbsup"})


def ts_key(ts: str | None) -> tuple[int, int]:
    """Order Slack timestamps exactly ("1512085950.000216"), without float rounding."""
    if not ts:
        return (0, 0)
    seconds, _, micros = str(ts).partition(".")
    return (int(seconds), int(micros.ljust(6, "0")[:6]))


def is_skipped(message: dict[str, Any]) -> bool:
    return bool(message.get("bot_id")) or message.get("subtype") not in KEPT_SUBTYPES


def changed_ts(message: dict[str, Any]) -> str:
    """The message's own ts, or its last edit's."""
    edited = (message.get("edited") or {}).get("ts")
    return max(str(message["ts"]), str(edited or ""), key=ts_key)


def map_message(
    message: dict[str, Any], *, source: str, channel: str, workspace_url: str | None,
    max_body_chars: int, staff_users: frozenset[str] = frozenset(),
) -> Row:
    ts = str(message.get("ts"))
    thread_ts = message.get("thread_ts")
    url = None
    if workspace_url:
        url = f"{workspace_url.rstrip('/')}/archives/{channel}/p{ts.replace('.', '')}"
        if thread_ts and thread_ts != ts:
            url += f"?thread_ts={thread_ts}&cid={channel}"
    record = {
        "source": source,
        "kind": "community_post",
        "external_id": f"{channel}:{ts}",
        "url": url,
        "author": message.get("user"),
        # Bot messages never get here (is_skipped); Slack has no staff flag, so it is configured.
        "author_role": "staff" if message.get("user") in staff_users else "customer",
        "thread_id": f"{channel}:{thread_ts or ts}",
        "reply_to": f"{channel}:{thread_ts}" if thread_ts and thread_ts != ts else None,
        "body": message.get("text") or "",
        "created_at": float(ts) if message.get("ts") else None,
        "updated_at": float(changed_ts(message)) if message.get("ts") else None,
        "votes": sum(r.get("count", 0) for r in message.get("reactions") or []
                     if r.get("name") in UPVOTES),
        "deleted": message.get("subtype") == "tombstone",
    }
    return to_row(record, raw=message, position=f"{channel}:{ts}", max_body_chars=max_body_chars)


__all__ = ["changed_ts", "is_skipped", "map_message", "ts_key"]
