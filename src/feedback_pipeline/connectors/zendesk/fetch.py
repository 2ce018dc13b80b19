"""Zendesk: ``GET /api/v2/incremental/tickets/cursor.json`` (cursor-based incremental export).

The first run starts at ``start_time``; every page's ``after_cursor`` is stored with that page's
rows, and the next run continues from it (``cursor=``), so only changed tickets come back. A ticket
changed twice appears twice in the stream: ingest keeps the newest ``updated_at``.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

from ...config import secret_from_env
from ...sources.base import Batch
from ..common import ConnectorSource, dump_cursor, env_hint, load_cursor, to_batch
from ..http import Credential, HttpClient
from ..paginate import CursorPaginator, PageRequest
from .mapping import map_ticket, organisations
from .settings import ZendeskSourceConfig

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


class ZendeskSource(ConnectorSource):
    settings: ZendeskSourceConfig

    def credential(self) -> Credential:
        s = self.settings
        token = secret_from_env(s.token_env, what=f"the API token of source '{self.name}'")
        raw = f"{s.email}/token:{token.get_secret_value()}"
        basic = base64.b64encode(raw.encode()).decode()
        return Credential(
            headers={"Authorization": f"Basic {basic}"},
            secrets=(token.get_secret_value(), basic),
            hint=env_hint(self.name, s.token_env, "token_env") + " and `email` (an admin)",
        )

    def fetch(self, cursor: str | None) -> Iterator[Batch]:
        state = load_cursor(cursor)
        client = self.client()
        try:
            for page in fetch_ticket_pages(client, after_cursor=state.get("after_cursor"),
                                           start_time=self.settings.start_time,
                                           page_size=self.settings.page_size):
                orgs = organisations(page)
                rows = [map_ticket(t, source=self.name, base_url=self.settings.base_url,
                                   orgs=orgs, max_body_chars=self.max_body_chars)
                        for t in page.get("tickets") or []]
                if page.get("after_cursor"):
                    state["after_cursor"] = page["after_cursor"]
                yield to_batch(rows, dump_cursor(state))
        finally:
            client.close()


__all__ = ["ZendeskSource", "fetch_ticket_pages"]
