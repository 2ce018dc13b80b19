"""Helpers every connector shares: the source base class, cursors as JSON, payload -> row."""

from __future__ import annotations

import json
from abc import abstractmethod
from collections.abc import Iterable
from typing import Any

from feedback_pipeline.ingest.config import ConnectorConfig
from feedback_pipeline.ingest.http import Credential, HttpClient, RetryPolicy
from feedback_pipeline.ingest.source import Batch, Source
from feedback_pipeline.records import (
    MAX_RAW_CHARS,
    Item,
    Rejection,
    guard_reason,
    item_from_mapping,
)
from feedback_pipeline.secrets import resolve_secret

Row = Item | Rejection


def load_cursor(cursor: str | None) -> dict[str, Any]:
    """The stored cursor (a JSON object) or ``{}`` on the first run."""
    if not cursor:
        return {}
    try:
        value = json.loads(cursor)
    except json.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def dump_cursor(state: dict[str, Any]) -> str:
    return json.dumps(state, sort_keys=True, separators=(",", ":"))


def to_row(record: dict[str, Any], *, raw: Any, position: str, max_body_chars: int) -> Row:
    """Validate a mapped record into an Item, or keep it as a Rejection with the reason.

    The record's guard: whatever goes wrong with it (a type, a size, a lone surrogate, nesting
    too deep to serialise) rejects this record alone, with its page position.
    """
    try:
        return item_from_mapping(record, max_body_chars=max_body_chars, position=position)
    except Exception as exc:  # noqa: BLE001 - one odd record must not end the page
        reason = guard_reason(exc)
    external_id = record.get("external_id")
    return Rejection(
        source=str(record.get("source") or ""),
        position=position,
        reason=reason,
        raw=_raw_text(raw),
        external_id=str(external_id) if isinstance(external_id, str | int)
        and not isinstance(external_id, bool) and external_id != "" else None,
    )


def _raw_text(raw: Any) -> str:
    try:
        return json.dumps(raw, ensure_ascii=False, default=str)
    except (RecursionError, ValueError):
        return repr(raw)[:MAX_RAW_CHARS] if not isinstance(raw, dict | list) else \
            f"<{type(raw).__name__} nested too deeply to show>"


def names_of(values: Any) -> list[str]:
    """Names from ``{"name": ...}`` objects or plain strings (vendors send either for tags and
    labels: Discourse tag objects since 2026, GitHub label strings or objects)."""
    names = []
    for value in values or []:
        name = value.get("name") if isinstance(value, dict) else value
        if isinstance(name, str) and name:
            names.append(name)
    return names


def to_batch(rows: Iterable[Row], cursor: str | None = None) -> Batch:
    batch = Batch(cursor=cursor)
    for row in rows:
        (batch.items if isinstance(row, Item) else batch.rejections).append(row)
    return batch


def env_hint(source: str, env_var: str, setting: str) -> str:
    return f"the env var {env_var} (setting `{setting}` of source '{source}')"


def token_credential(
    source: str, env_var: str, *, setting: str = "token_env", scheme: str = "Bearer"
) -> Credential:
    """``Authorization: <scheme> <token>`` from an env var, read now (at fetch time)."""
    token = resolve_secret(env_var, what=f"the token of source '{source}'").get_secret_value()
    return Credential(
        headers={"Authorization": f"{scheme} {token}"},
        secrets=(token,),
        hint=env_hint(source, env_var, setting),
    )


class ConnectorSource(Source):
    """Base of the HTTP connectors: settings in, nothing touched until :meth:`fetch`."""

    def __init__(self, settings: ConnectorConfig, *, max_body_chars: int = 100_000) -> None:
        self.settings = settings
        self.name = settings.name
        self.max_body_chars = max_body_chars

    @abstractmethod
    def credential(self) -> Credential:
        """Read the credentials from the environment (called at the first request)."""
        raise NotImplementedError

    def default_headers(self) -> dict[str, str]:
        return {"Accept": "application/json", "User-Agent": "feedback-pipeline"}

    def client(self) -> HttpClient:
        s = self.settings
        return HttpClient(
            source=self.name,
            base_url=s.base_url,
            credential=self.credential,
            timeout=s.timeout_seconds,
            retry=RetryPolicy(max_attempts=s.max_retries, max_total_wait=s.max_retry_wait_seconds,
                              min_rate_limit_wait=s.rate_limit_min_wait_seconds),
            headers=self.default_headers(),
        )


__all__ = [
    "ConnectorSource",
    "dump_cursor",
    "env_hint",
    "load_cursor",
    "names_of",
    "to_batch",
    "to_row",
    "token_credential",
]
