"""Slack: ``conversations.history`` per channel, ``conversations.replies`` for active threads.

The cursor keeps, per channel, the newest message ts seen. A run asks ``history`` for messages
since ``cursor - thread_window_days``; within that window it keeps messages newer than the
cursor or edited after it, and reads the replies of every thread whose ``latest_reply`` is newer
than the cursor (thread replies are not in ``history``). History comes newest first, so rows are
committed page by page and the channel's cursor only once the channel is done. A deleted thread
parent comes back as a ``tombstone`` and is marked deleted; other deletions are not visible.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from datetime import timedelta
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)

from feedback_pipeline.errors import SourceError
from feedback_pipeline.ingest.connector import (
    ConnectorSource,
    Row,
    dump_cursor,
    env_hint,
    load_cursor,
    to_batch,
)
from feedback_pipeline.ingest.http import Credential, redact
from feedback_pipeline.ingest.paginate import CursorPaginator, PageRequest, paginate
from feedback_pipeline.ingest.slack.config import SlackSourceConfig
from feedback_pipeline.ingest.slack.mapping import changed_ts, is_skipped, map_message, ts_key
from feedback_pipeline.ingest.source import Batch
from feedback_pipeline.secrets import resolve_secret

AUTH_ERRORS = frozenset({"not_authed", "invalid_auth", "token_expired", "token_revoked",
                         "account_inactive", "missing_scope", "not_in_channel"})


def _next_cursor(page: dict[str, Any]) -> str | None:
    return (page.get("response_metadata") or {}).get("next_cursor") or None


class SlackPages:
    """``send`` for :func:`paginate` over a ``WebClient``; Slack errors become SourceError."""

    def __init__(self, client: WebClient, *, source: str, credential: Credential) -> None:
        self.client = client
        self.source = source
        self.credential = credential

    def __call__(self, request: PageRequest) -> tuple[dict[str, Any], None]:
        try:
            response = self.client.api_call(request.path, params=dict(request.params))
        except SlackApiError as exc:
            error = str(exc.response.get("error") if exc.response is not None else exc)
            fix = (f"; check {self.credential.hint}" if error in AUTH_ERRORS
                   else "" if exc.response is None or exc.response.status_code != 429
                   else "; rate limited after retries, rerun later or raise max_retries")
            raise self._fail(f"Slack {request.path} failed: {error}{fix}") from None
        except ValueError as exc:  # the SDK lets a body that is not JSON through as this
            raise self._fail(f"Slack {request.path} at {self.client.base_url} returned a body "
                             f"that is not JSON ({exc})") from None
        except OSError as exc:  # connection errors, after the SDK's own retries
            raise self._fail(f"cannot reach Slack {request.path} at {self.client.base_url} "
                             f"({exc}); rerun later") from None
        return dict(response.data), None  # type: ignore[arg-type]

    def _fail(self, what: str) -> SourceError:
        return SourceError(redact(f"source '{self.source}': {what}", self.credential.secrets))

    def pages(self, method: str, **params: Any) -> Iterator[dict[str, Any]]:
        return paginate(self, PageRequest(method, params), CursorPaginator(_next_cursor))


def fetch_history_pages(pages: SlackPages, channel: str, *, oldest: str | None,
                        limit: int) -> Iterator[dict[str, Any]]:
    """Yield raw ``conversations.history`` pages (newest first) since ``oldest``."""
    params: dict[str, Any] = {"channel": channel, "limit": limit}
    if oldest:
        params["oldest"] = oldest
    yield from pages.pages("conversations.history", **params)


def fetch_reply_pages(pages: SlackPages, channel: str, thread_ts: str, *, oldest: str | None,
                      limit: int) -> Iterator[dict[str, Any]]:
    """Yield raw ``conversations.replies`` pages of one thread (the parent comes first)."""
    params: dict[str, Any] = {"channel": channel, "ts": thread_ts, "limit": limit}
    if oldest:
        params["oldest"] = oldest
    yield from pages.pages("conversations.replies", **params)


class SlackSource(ConnectorSource):
    settings: SlackSourceConfig

    def credential(self) -> Credential:
        token = resolve_secret(self.settings.token_env,
                                what=f"the bot token of source '{self.name}'").get_secret_value()
        return Credential(headers={}, secrets=(token,),
                          hint=env_hint(self.name, self.settings.token_env, "token_env")
                          + " (scopes channels:history; the bot must be in the channel)")

    def web_client(self, credential: Credential) -> WebClient:
        s = self.settings
        client = WebClient(token=credential.secrets[0], base_url=s.base_url,
                           timeout=int(s.timeout_seconds))
        client.retry_handlers = [
            ConnectionErrorRetryHandler(max_retry_count=s.max_retries - 1),
            RateLimitErrorRetryHandler(max_retry_count=s.max_retries - 1),
            ServerErrorRetryHandler(max_retry_count=s.max_retries - 1),
        ]
        return client

    def _rows(self, channel: str, messages: list[dict], after: str | None) -> list[Row]:
        return [
            map_message(m, source=self.name, channel=channel,
                        workspace_url=self.settings.workspace_url,
                        max_body_chars=self.max_body_chars,
                        staff_users=frozenset(self.settings.staff_users))
            for m in messages
            if not is_skipped(m)
            and (after is None or ts_key(changed_ts(m)) > ts_key(after)
                 or m.get("subtype") == "tombstone")
        ]

    def _channel(
        self, pages: SlackPages, channel: str, after: str | None
    ) -> Generator[Batch, None, str | None]:
        """Yield the channel's batches; return the newest ts seen (the channel's next cursor)."""
        s = self.settings
        oldest = None
        if after is not None:
            window = timedelta(days=s.thread_window_days).total_seconds()
            oldest = f"{max(0.0, float(after) - window):.6f}"
        newest = after
        for page in fetch_history_pages(pages, channel, oldest=oldest, limit=s.page_size):
            messages = page.get("messages") or []
            rows = self._rows(channel, messages, after)
            for m in messages:
                newest = max(newest or "0", str(m["ts"]), key=ts_key)
                if not m.get("reply_count") or m.get("thread_ts") != m["ts"]:
                    continue
                if after is not None and ts_key(m.get("latest_reply")) <= ts_key(after):
                    continue
                for reply_page in fetch_reply_pages(pages, channel, m["ts"], oldest=oldest,
                                                    limit=s.page_size):
                    replies = [r for r in reply_page.get("messages") or [] if r["ts"] != m["ts"]]
                    rows.extend(self._rows(channel, replies, after))
                    for r in replies:
                        newest = max(newest or "0", str(r["ts"]), key=ts_key)
            yield to_batch(rows)
        return newest

    def fetch(self, cursor: str | None) -> Iterator[Batch]:
        state = load_cursor(cursor)
        credential = self.credential()
        pages = SlackPages(self.web_client(credential), source=self.name, credential=credential)
        for channel in self.settings.channels:
            newest = yield from self._channel(pages, channel, state.get(channel))
            if newest is not None:
                state[channel] = newest
            yield Batch(cursor=dump_cursor(state))


__all__ = ["SlackSource", "fetch_history_pages", "fetch_reply_pages"]
