"""Zendesk: ``GET /api/v2/incremental/tickets/cursor.json`` (cursor-based incremental export).

The first run starts at ``start_time``; every page's ``after_cursor`` is stored with that page's
rows, and the next run continues from it (``cursor=``), so only changed tickets come back. A ticket
changed twice appears twice in the stream: ingest keeps the newest ``updated_at``.

For every ticket of a page that is not deleted, its public comments after the description are
read from ``GET /api/v2/tickets/{id}/comments.json`` (cursor pagination ``page[size]`` /
``page[after]`` until ``meta.has_more`` is false, stopping once ``max_comments`` public replies
are in hand) and appended to the body. A ticket deleted since the export page was written answers
404: it keeps its description only, and the next export marks it deleted.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

from feedback_pipeline.ingest.connector import (
    ConnectorSource,
    dump_cursor,
    env_hint,
    load_cursor,
    to_batch,
)
from feedback_pipeline.ingest.http import Credential, HttpClient
from feedback_pipeline.ingest.paginate import CursorPaginator, PageRequest, paginate
from feedback_pipeline.ingest.source import Batch
from feedback_pipeline.ingest.zendesk.config import ZendeskSourceConfig
from feedback_pipeline.ingest.zendesk.mapping import map_ticket, organisations, public_replies
from feedback_pipeline.secrets import resolve_secret

EXPORT_PATH = "/api/v2/incremental/tickets/cursor.json"


def _next_cursor(page: dict[str, Any]) -> str | None:
    return None if page.get("end_of_stream") else page.get("after_cursor")


def fetch_ticket_pages(
    client: HttpClient, *, after_cursor: str | None, start_time: int, page_size: int
) -> Iterator[dict[str, Any]]:
    """Yield raw export pages from ``after_cursor`` (or ``start_time``) to the end of stream."""
    params: dict[str, Any] = {"per_page": page_size, "include": "organizations"}
    if after_cursor:
        params["cursor"] = after_cursor
    else:
        params["start_time"] = start_time
    paginator = CursorPaginator(_next_cursor, param="cursor", drop=("start_time",))
    yield from client.pages(PageRequest(EXPORT_PATH, params), paginator)


def _next_comments(page: dict[str, Any] | None) -> str | None:
    meta = (page or {}).get("meta") or {}
    return meta.get("after_cursor") if meta.get("has_more") else None


def fetch_comment_pages(
    client: HttpClient, ticket_id: int, *, page_size: int
) -> Iterator[list[dict[str, Any]]]:
    """Yield pages of a ticket's comments (oldest first); nothing when the ticket is gone (404)."""
    request = PageRequest(f"/api/v2/tickets/{ticket_id}/comments.json",
                          {"page[size]": page_size})
    paginator = CursorPaginator(_next_comments, param="page[after]")
    for page in paginate(lambda r: client.request_json(r, missing_ok=True), request, paginator):
        if page is None:
            return
        yield page.get("comments") or []


def fetch_comments(client: HttpClient, ticket_id: int, *, limit: int,
                   page_size: int) -> list[dict[str, Any]]:
    """The ticket's comments, oldest first, up to the page holding the ``limit``-th public reply."""
    comments: list[dict[str, Any]] = []
    for page in fetch_comment_pages(client, ticket_id, page_size=page_size):
        comments.extend(page)
        if len(public_replies(comments, limit=limit)) >= limit:
            break
    return comments


def fetch_replies(client: HttpClient, ticket_id: int, *, limit: int, page_size: int) -> list[str]:
    """Up to ``limit`` public comment bodies after the description, oldest first."""
    return public_replies(fetch_comments(client, ticket_id, limit=limit, page_size=page_size),
                          limit=limit)


class ZendeskSource(ConnectorSource):
    settings: ZendeskSourceConfig

    def credential(self) -> Credential:
        s = self.settings
        token = resolve_secret(s.token_env, what=f"the API token of source '{self.name}'")
        raw = f"{s.email}/token:{token.get_secret_value()}"
        basic = base64.b64encode(raw.encode()).decode()
        return Credential(
            headers={"Authorization": f"Basic {basic}"},
            secrets=(token.get_secret_value(), basic),
            hint=env_hint(self.name, s.token_env, "token_env") + " and `email` (an admin)",
        )

    def _comments(self, client: HttpClient,
                  tickets: list[dict[str, Any]]) -> dict[int, list[dict[str, Any]]]:
        """Comments of the page's live tickets (a ticket repeated in a page: read once)."""
        s = self.settings
        if not s.max_comments:
            return {}
        latest = {t["id"]: t for t in tickets if t.get("id") is not None}
        return {tid: fetch_comments(client, tid, limit=s.max_comments,
                                    page_size=s.comments_page_size)
                for tid, t in latest.items() if t.get("status") != "deleted"}

    def fetch(self, cursor: str | None) -> Iterator[Batch]:
        state = load_cursor(cursor)
        client = self.client()
        try:
            for page in fetch_ticket_pages(client, after_cursor=state.get("after_cursor"),
                                           start_time=self.settings.start_time,
                                           page_size=self.settings.page_size):
                orgs = organisations(page)
                tickets = page.get("tickets") or []
                comments = self._comments(client, tickets)
                limit = self.settings.max_comments
                rows = [map_ticket(t, source=self.name, base_url=self.settings.base_url,
                                   orgs=orgs, max_body_chars=self.max_body_chars,
                                   replies=public_replies(comments.get(t.get("id"), []),
                                                          limit=limit),
                                   comments=comments.get(t.get("id")))
                        for t in tickets]
                if page.get("after_cursor"):
                    state["after_cursor"] = page["after_cursor"]
                yield to_batch(rows, dump_cursor(state))
        finally:
            client.close()


__all__ = ["ZendeskSource", "fetch_comment_pages", "fetch_comments", "fetch_replies", "fetch_ticket_pages"]
