"""The hand-counted community-pulse fixture (counts in tests/rank/test_pulse.py's docstring),
shared by the pulse tests of the CLI, the digest block and the report section."""

from __future__ import annotations

from datetime import UTC, datetime

from feedback_pipeline.ingest.source import Batch
from feedback_pipeline.ingest.stage import save_batch
from feedback_pipeline.records import item_from_mapping

AS_OF = datetime(2026, 3, 10, 12, tzinfo=UTC)


def _post(ext: str, author: str, when: str, *, role: str = "customer", thread: str,
          reply_to: str | None = None, **extra: object) -> dict:
    return {"source": "forum", "kind": "community_post", "external_id": ext, "author": author,
            "created_at": f"2026-03-{when}:00Z", "title": "" if reply_to else f"thread {ext}",
            "body": f"text of {ext}", "author_role": role, "thread_id": thread,
            "reply_to": reply_to, "url": f"https://forum.example.com/t/{thread}", **extra}


def _ticket(ext: str, author: str, when: str, replies: list[tuple[str, str, str]]) -> dict:
    return {"source": "desk", "kind": "support_ticket", "external_id": ext, "author": author,
            "created_at": f"2026-03-{when}:00Z", "title": f"ticket {ext}", "body": "help",
            "author_role": "customer", "thread_id": ext,
            "url": f"https://desk.example.com/agent/tickets/{ext}",
            "replies": [{"id": f"{ext}-{n}", "author": who, "role": role,
                         "created_at": f"2026-03-{at}:00Z"}
                        for n, (who, role, at) in enumerate(replies)]}


FORUM = [
    _post("t1", "alice", "08T10:00", thread="1"),
    _post("t1r", "sam", "08T13:00", role="staff", thread="1", reply_to="1"),
    _post("t2", "bob", "07T09:00", thread="2"),
    _post("t2bot", "system", "07T09:01", role="bot", thread="2", reply_to="2", is_bot=True),
    _post("t2self", "bob", "07T20:00", thread="2", reply_to="2"),
    _post("t3", "carol", "10T08:00", thread="3"),
    _post("t4", "sam", "09T10:00", role="staff", thread="4"),
    _post("t4r", "dave", "09T11:00", thread="4", reply_to="4"),
    _post("b", "discobot", "09T12:00", role="bot", thread="5"),
    _post("g", "gina", "09T09:00", thread="6", deleted=True),
]
DESK = [
    _ticket("d1", "erin", "09T06:00", [("agent", "staff", "09T07:00"),
                                      ("erin", "customer", "09T08:00")]),
    _ticket("d2", "frank", "06T12:00", [("fin", "bot", "06T12:01")]),
    _ticket("d3", "hank", "09T10:00", [("agent", "staff", "09T15:00")]),
]


def load_threads(con) -> None:
    """Store FORUM and DESK through the ingest stage, as a connector's rows would be."""
    for source, records in (("forum", FORUM), ("desk", DESK)):
        items = [item_from_mapping(r, max_body_chars=10_000) for r in records]
        save_batch(con, source, Batch(items=items), run_id="r1", salt="s")
