"""Zendesk Support emulator: cursor-based incremental ticket export (API-NOTES §2).

``GET /api/v2/incremental/tickets/cursor.json`` with ``start_time`` (first call) or ``cursor``,
``per_page``, ``include=organizations``; answers ``tickets``, ``after_cursor``, ``after_url``,
``end_of_stream``. Every change is an event in a stream, so a ticket changed twice appears twice;
a deleted ticket appears with ``status: deleted``. Basic auth ``{email}/token:{token}``; the 429
body is ``text/plain`` as observed in the wild.

``GET /api/v2/tickets/{id}/comments.json``: ascending by creation, the description as the first
comment, private notes (``public: false``) included as in the real API; cursor pagination with
``page[size]`` (<= 100) and ``page[after]``, answering ``meta{has_more,after_cursor}`` and
``links.next``; a deleted ticket answers 404 ``RecordNotFound``.
"""

from __future__ import annotations

import base64
import copy
import re
from datetime import datetime
from typing import Any

from .clock import Clock
from .httpserver import Emulator, Request, Response

EXPORT = "/api/v2/incremental/tickets/cursor.json"
COMMENTS = re.compile(r"/api/v2/tickets/(\d+)/comments\.json")


def _cursor(seq: int) -> str:
    return base64.b64encode(f"seq:{seq}".encode()).decode()


def _seq(cursor: str) -> int:
    return int(base64.b64decode(cursor).decode().split(":")[1])


class ZendeskEmulator(Emulator):
    rate_limit_content_type = "text/plain"

    def __init__(self, token: str = "zd-test-token", email: str = "admin@example.com") -> None:
        super().__init__(token)
        self.email = email
        self.clock = Clock()
        self.events: list[dict[str, Any]] = []  # ticket snapshots, in change order
        self.organizations = {509974: {"id": 509974, "name": "Acme Corp"}}
        self.comments: dict[int, list[dict[str, Any]]] = {}
        self.purged: set[int] = set()  # gone entirely (comments 404 even before the export says so)

    def _snapshot(self, ticket: dict[str, Any]) -> None:
        self.events.append(copy.deepcopy(ticket))

    def current(self, ticket_id: int) -> dict[str, Any]:
        return next(e for e in reversed(self.events) if e["id"] == ticket_id)

    def add_ticket(self, ticket_id: int, subject: str, description: str, *,
                   tags: tuple[str, ...] = (), channel: str = "web",
                   organization_id: int | None = 509974, requester_id: int = 20978392) -> None:
        now = self.clock.iso()
        with self.lock:
            self._snapshot({
                "id": ticket_id, "subject": subject, "description": description,
                "status": "open", "priority": "normal", "type": "question", "tags": list(tags),
                "via": {"channel": channel, "source": {"from": {}, "to": {}}},
                "requester_id": requester_id, "organization_id": organization_id,
                "created_at": now, "updated_at": now,
            })
            self.comments[ticket_id] = []
            self._comment(ticket_id, description, public=True, author_id=requester_id)

    def add_tickets(self, first_id: int, count: int, *, tags: tuple[str, ...] = ()) -> None:
        """``count`` tickets with ids from ``first_id`` in one go (soak tests): one snapshot each,
        no copies and no comment threads (read them with ``max_comments = 0``)."""
        org = next(iter(self.organizations))
        with self.lock:
            for ticket_id in range(first_id, first_id + count):
                now = self.clock.iso()
                self.events.append({
                    "id": ticket_id, "subject": f"Ticket {ticket_id}: export fails",
                    "description": f"Exporting report {ticket_id} as CSV times out.",
                    "status": "open", "priority": "normal", "type": "question",
                    "tags": list(tags), "via": {"channel": "web"},
                    "requester_id": 20_000_000 + ticket_id % 5_000, "organization_id": org,
                    "created_at": now, "updated_at": now,
                })

    def _comment(self, ticket_id: int, body: str, *, public: bool, author_id: int) -> None:
        comments = self.comments[ticket_id]
        comments.append({
            "id": ticket_id * 1000 + len(comments) + 1, "type": "Comment", "author_id": author_id,
            "public": public, "body": body, "html_body": f"<p>{body}</p>", "plain_body": body,
            "attachments": [], "via": {"channel": "web"}, "created_at": self.clock.iso(),
        })

    def add_comment(self, ticket_id: int, body: str, *, public: bool = True,
                    author_id: int = 20978392) -> None:
        """A reply (or, with ``public=False``, an agent's private note); the ticket changes."""
        with self.lock:
            self._comment(ticket_id, body, public=public, author_id=author_id)
            self.edit(ticket_id)

    def purge(self, ticket_id: int) -> None:
        """Delete a ticket so that its comments 404 before the export reports it deleted."""
        with self.lock:
            self.purged.add(ticket_id)

    def edit(self, ticket_id: int, **changes: Any) -> None:
        with self.lock:
            self._snapshot({**self.current(ticket_id), **changes, "updated_at": self.clock.iso()})

    def delete(self, ticket_id: int) -> None:
        self.edit(ticket_id, status="deleted")

    def authorized(self, request: Request) -> bool:
        raw = f"{self.email}/token:{self.token}".encode()
        return request.headers.get("authorization") == f"Basic {base64.b64encode(raw).decode()}"

    def unauthorized(self, request: Request) -> Response:
        return Response(401, {"error": "Couldn't authenticate you"})

    def rate_limit_body(self, retry_after: int) -> Any:
        return b"Too Many Requests"

    def route(self, request: Request) -> Response:
        match = COMMENTS.fullmatch(request.path)
        if match:
            return self._comments(request, int(match.group(1)))
        if request.path != EXPORT:
            return Response(404, {"error": "InvalidEndpoint", "description": "Not found"})
        per_page = min(int(request.arg("per_page", "1000")), 1000)
        cursor = request.arg("cursor")
        if cursor:
            start = _seq(cursor)
        else:
            since = int(request.arg("start_time", "0"))
            start = next((i for i, e in enumerate(self.events)
                          if datetime.fromisoformat(e["updated_at"]).timestamp() >= since),
                         len(self.events))
        chunk = self.events[start:start + per_page]
        end = start + len(chunk)
        self.served.extend(str(t["id"]) for t in chunk)
        body: dict[str, Any] = {
            "tickets": chunk,
            "after_cursor": _cursor(end),
            "after_url": f"{self.url}{EXPORT}?cursor={_cursor(end)}",
            "before_cursor": None, "before_url": None,
            "end_of_stream": end >= len(self.events),
        }
        if "organizations" in (request.arg("include") or ""):
            ids = {t.get("organization_id") for t in chunk}
            body["organizations"] = [o for i, o in self.organizations.items() if i in ids]
        return Response(200, body)

    def _comments(self, request: Request, ticket_id: int) -> Response:
        if (ticket_id not in self.comments or ticket_id in self.purged
                or self.current(ticket_id)["status"] == "deleted"):
            return Response(404, {"error": "RecordNotFound", "description": "Not found"})
        size = min(int(request.arg("page[size]", "100")), 100)
        after = request.arg("page[after]")
        start = _seq(after) if after else 0
        comments = self.comments[ticket_id]
        chunk = comments[start:start + size]
        end = start + len(chunk)
        more = end < len(comments)
        path = f"{self.url}{request.path}"
        return Response(200, {
            "comments": chunk,
            "meta": {"has_more": more, "after_cursor": _cursor(end) if more else None,
                     "before_cursor": _cursor(start) if start else None},
            "links": {"next": f"{path}?page[size]={size}&page[after]={_cursor(end)}"
                      if more else None, "prev": None},
        })


__all__ = ["ZendeskEmulator"]
