"""Intercom emulator: ``POST /conversations/search`` and ``GET /conversations/{id}``.

Search takes ``{"query": {"field", "operator", "value"}, "pagination": {"per_page",
"starting_after"}}`` and answers ``conversation.list`` with ``pages.next.starting_after``; hits
carry no parts, ``GET /conversations/{id}`` adds ``conversation_parts``. Errors are
``error.list`` bodies; the rate limit answers 429 with ``X-RateLimit-Remaining: 0`` and
``X-RateLimit-Reset`` (epoch seconds), as Intercom does.

As the description says: ``unreadable(conv_id)`` keeps a conversation in the search results
while ``GET /conversations/{id}`` answers 404 (the search index lags a deletion or a merge), and
a conversation returns at most its ``MAX_PARTS`` (500) most recent parts; ``total_count`` then
still counts them all ([U]: the description does not say what it counts).
"""

from __future__ import annotations

import base64
import copy
import operator
import re
import time
from typing import Any

from .clock import Clock
from .httpserver import Emulator, Request, Response

OPS = {">": operator.gt, "<": operator.lt, "=": operator.eq, "!=": operator.ne}
MAX_PARTS = 500


def _errors(code: str, message: str) -> dict[str, Any]:
    return {"type": "error.list", "request_id": "req-1",
            "errors": [{"code": code, "message": message}]}


class IntercomEmulator(Emulator):
    def __init__(self, token: str = "ic-test-token") -> None:
        super().__init__(token)
        self.clock = Clock()
        self.conversations: dict[str, dict[str, Any]] = {}
        self.unreadable_ids: set[str] = set()

    def add_conversation(self, conv_id: str, subject: str, body: str, *,
                         author: str = "contact-1", author_type: str = "user",
                         tags: tuple[str, ...] = ()) -> dict[str, Any]:
        now = self.clock.epoch()
        conv = {
            "type": "conversation", "id": conv_id, "title": None,
            "created_at": now, "updated_at": now, "state": "open", "open": True, "read": False,
            "waiting_since": now, "snoozed_until": None, "admin_assignee_id": None,
            "team_assignee_id": None, "custom_attributes": {}, "priority": "not_priority",
            "source": {"type": "conversation", "id": f"src-{conv_id}", "delivered_as":
                       "customer_initiated", "subject": subject, "body": body,
                       "author": {"type": author_type, "id": author, "name": author,
                                  "email": f"{author}@example.com"},
                       "attachments": [], "url": None, "redacted": False},
            "contacts": {"type": "contact.list", "contacts": [
                {"type": "contact", "id": author, "external_id": None}]},
            "teammates": {"type": "admin.list", "teammates": []},
            "topics": {"type": "topic.list", "topics": [], "total_count": 0},
            "tags": {"type": "tag.list", "tags": [
                {"type": "tag", "id": str(1 + i), "name": t, "applied_at": now,
                 "applied_by": {"type": "admin", "id": "1"}} for i, t in enumerate(tags)]},
            "parts": [],
        }
        self.conversations[conv_id] = conv
        return conv

    def add_part(self, conv_id: str, body: str, *, author_type: str = "user",
                 author: str = "contact-1", part_type: str = "comment") -> None:
        with self.lock:
            conv = self.conversations[conv_id]
            now = self.clock.epoch()
            conv["parts"].append({"type": "conversation_part", "id": f"p{len(conv['parts'])}",
                                  "part_type": part_type, "body": body, "created_at": now,
                                  "updated_at": now, "notified_at": now,
                                  "author": {"type": author_type, "id": author, "name": author,
                                             "email": f"{author}@example.com"},
                                  "attachments": [], "external_id": None, "redacted": False})
            conv["updated_at"] = now

    def unreadable(self, conv_id: str, *, readable: bool = False) -> None:
        """Search keeps listing ``conv_id`` but reading it answers 404 (until ``readable``)."""
        with self.lock:
            (self.unreadable_ids.discard if readable else self.unreadable_ids.add)(conv_id)

    def delete(self, conv_id: str) -> None:
        with self.lock:
            del self.conversations[conv_id]

    def rate_limit(self, retry_after: int = 1, *, path: str | None = None) -> None:
        self.fail(429, _errors("rate_limit_exceeded", "Exceeded rate limit"), path=path,
                  headers={"X-RateLimit-Remaining": "0",
                           "X-RateLimit-Reset": str(int(time.time()) + retry_after)})

    def unauthorized(self, request: Request) -> Response:
        return Response(401, _errors("unauthorized", "Access Token Invalid"))

    def _summary(self, conv: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in copy.deepcopy(conv).items() if k != "parts"}

    def route(self, request: Request) -> Response:
        if request.method == "POST" and request.path == "/conversations/search":
            return self._search(request.body or {})
        match = re.fullmatch(r"/conversations/([^/]+)", request.path)
        if request.method == "GET" and match:
            conv = self.conversations.get(match.group(1))
            if conv is None or conv["id"] in self.unreadable_ids:
                return Response(404, _errors("not_found", "Resource Not Found"))
            full = self._summary(conv)
            full["conversation_parts"] = {"type": "conversation_part.list",
                                          "conversation_parts": copy.deepcopy(
                                              conv["parts"][-MAX_PARTS:]),
                                          "total_count": len(conv["parts"])}
            self.served.append(conv["id"])
            return Response(200, full)
        return Response(404, _errors("not_found", "Resource Not Found"))

    def _search(self, body: dict[str, Any]) -> Response:
        query = body.get("query") or {}
        if query.get("field") != "updated_at" or query.get("operator") not in OPS:
            return Response(400, _errors("parameter_invalid", "unsupported query"))
        test = OPS[query["operator"]]
        hits = [c for c in self.conversations.values() if test(c["updated_at"], query["value"])]
        pagination = body.get("pagination") or {}
        per_page = min(int(pagination.get("per_page", 20)), 150)
        after = pagination.get("starting_after")
        start = int(base64.b64decode(after).decode()) if after else 0
        chunk = hits[start:start + per_page]
        total_pages = max(1, -(-len(hits) // per_page))
        pages: dict[str, Any] = {"type": "pages", "page": start // per_page + 1,
                                 "per_page": per_page, "total_pages": total_pages}
        if start + per_page < len(hits):
            pages["next"] = {"page": start // per_page + 2, "per_page": per_page,
                             "starting_after": base64.b64encode(
                                 str(start + per_page).encode()).decode()}
        return Response(200, {"type": "conversation.list", "pages": pages,
                              "total_count": len(hits),
                              "conversations": [self._summary(c) for c in chunk]})


__all__ = ["IntercomEmulator"]
