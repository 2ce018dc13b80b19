"""Intercom: ``POST /conversations/search`` (``updated_at > cursor``), then each conversation.

Search results carry no parts, so every hit is read with ``GET /conversations/{id}``. The search
order is not guaranteed, so rows are committed page by page but the cursor (the newest
``updated_at`` seen) only with the last, empty batch: a crash re-reads from the old cursor and
upserts. The query starts ``lookback_seconds`` before the cursor because the search index lags.

The index also lags deletions and merges: a listed conversation can answer 404. It is skipped,
not fatal, and kept in the cursor's ``retry`` list (id -> nights tried), read first the next
night, and given up after ``missing_retry_nights`` with a warning. A conversation returns at
most its 500 most recent parts; a longer thread is kept with what came back and the run
summary says its older parts are missing.
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


MAX_PARTS = 500  # Intercom returns at most a conversation's 500 most recent parts


def fetch_conversation(client: HttpClient, conversation_id: str) -> dict[str, Any] | None:
    """One conversation with its parts (``conversation_parts``), None when it answers 404."""
    return client.get_json(f"/conversations/{conversation_id}", missing_ok=True,
                           display_as="plaintext")


def truncation(conversation: dict[str, Any]) -> str | None:
    """A warning when Intercom cut the thread to its most recent parts, else None."""
    parts = conversation.get("conversation_parts") or {}
    returned = len(parts.get("conversation_parts") or [])
    total = int(parts.get("total_count") or 0)
    if returned < MAX_PARTS and total <= returned:
        return None
    count = f"{total} parts" if total > returned else f"{returned}+ parts"
    return (f"conversation {conversation.get('id')} has {count}; Intercom returns only the "
            f"{MAX_PARTS} most recent, so older customer parts are missing from its item")


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
        tried: dict[str, int] = {str(k): int(v) for k, v in (state.get("retry") or {}).items()}
        missing: dict[str, int] = {}
        seen: set[str] = set()
        client = self.client()

        def read(ids: list[str]) -> Batch:
            nonlocal newest
            rows, warnings = [], []
            for conv_id in ids:
                if conv_id in seen:
                    continue
                seen.add(conv_id)
                full = fetch_conversation(client, conv_id)
                if full is None:
                    nights = tried.get(conv_id, 0) + 1
                    if nights < self.settings.missing_retry_nights:
                        missing[conv_id] = nights
                        warnings.append(f"conversation {conv_id} is listed by search but "
                                        f"answers 404; skipped, retried next night ({nights}/"
                                        f"{self.settings.missing_retry_nights})")
                    else:
                        warnings.append(f"conversation {conv_id} answered 404 on {nights} "
                                        "nights; given up")
                    continue
                rows.append(map_conversation(full, source=self.name,
                                             app_url=self.settings.app_url,
                                             max_body_chars=self.max_body_chars))
                if (cut := truncation(full)) is not None:
                    warnings.append(cut)
                newest = max(newest, int(full.get("updated_at") or 0))
            batch = to_batch(rows)
            batch.warnings = warnings
            return batch

        try:
            if tried:  # 404s of earlier nights first: the search may not list them again
                yield read(sorted(tried))
            after = max(0, watermark - self.settings.lookback_seconds) if watermark else 0
            for page in fetch_conversation_pages(client, updated_after=after,
                                                 page_size=self.settings.page_size):
                yield read([str(hit["id"]) for hit in page.get("conversations") or []])
        finally:
            client.close()
        yield Batch(cursor=dump_cursor({**state, "updated_at": newest, "retry": missing}))


__all__ = ["IntercomSource", "fetch_conversation", "fetch_conversation_pages", "truncation"]
