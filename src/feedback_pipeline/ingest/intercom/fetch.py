"""Intercom: ``POST /conversations/search`` (``updated_at > cursor``), then each conversation.

Search results carry no parts, so every hit is read with ``GET /conversations/{id}``. The search
order is not guaranteed, so rows are committed page by page but the cursor (the newest
``updated_at`` seen) only with the last, empty batch: a crash re-reads from the old cursor and
upserts. The query starts ``lookback_seconds`` before the cursor because the search index lags.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from feedback_pipeline.ingest.connector import (
    ConnectorSource,
    dump_cursor,
    load_cursor,
    to_batch,
    token_credential,
)
from feedback_pipeline.ingest.http import Credential, HttpClient
from feedback_pipeline.ingest.intercom.config import IntercomSourceConfig
from feedback_pipeline.ingest.intercom.mapping import map_conversation
from feedback_pipeline.ingest.paginate import CursorPaginator, PageRequest
from feedback_pipeline.ingest.source import Batch


def _starting_after(page: dict[str, Any]) -> str | None:
    return ((page.get("pages") or {}).get("next") or {}).get("starting_after")


def fetch_conversation_pages(
    client: HttpClient, *, updated_after: int, page_size: int
) -> Iterator[dict[str, Any]]:
    """Yield raw search pages of conversations with ``updated_at > updated_after``."""
    body = {
        "query": {"field": "updated_at", "operator": ">", "value": updated_after},
        "pagination": {"per_page": page_size},
    }
    paginator = CursorPaginator(_starting_after, param="pagination.starting_after", in_body=True)
    yield from client.pages(PageRequest("/conversations/search", json=body, method="POST"),
                            paginator)


def fetch_conversation(client: HttpClient, conversation_id: str) -> dict[str, Any]:
    """One conversation with its parts (``conversation_parts``)."""
    return client.get_json(f"/conversations/{conversation_id}", display_as="plaintext")


class IntercomSource(ConnectorSource):
    settings: IntercomSourceConfig

    def credential(self) -> Credential:
        return token_credential(self.name, self.settings.token_env)

    def default_headers(self) -> dict[str, str]:
        return {**super().default_headers(), "Intercom-Version": self.settings.api_version}

    def fetch(self, cursor: str | None) -> Iterator[Batch]:
        state = load_cursor(cursor)
        watermark = int(state.get("updated_at", 0))
        newest = watermark
        client = self.client()
        try:
            after = max(0, watermark - self.settings.lookback_seconds) if watermark else 0
            for page in fetch_conversation_pages(client, updated_after=after,
                                                 page_size=self.settings.page_size):
                rows = []
                for hit in page.get("conversations") or []:
                    full = fetch_conversation(client, str(hit["id"]))
                    rows.append(map_conversation(full, source=self.name,
                                                 app_url=self.settings.app_url,
                                                 max_body_chars=self.max_body_chars))
                    newest = max(newest, int(full.get("updated_at") or 0))
                yield to_batch(rows)
        finally:
            client.close()
        yield Batch(cursor=dump_cursor({**state, "updated_at": newest}))


__all__ = ["IntercomSource", "fetch_conversation", "fetch_conversation_pages"]
