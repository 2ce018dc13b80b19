"""One HTTP client for every connector: timeouts, bounded retries, redaction, clear errors.

* 429, 5xx and connection errors are retried. The wait honours ``Retry-After`` (seconds or an
  HTTP date) and GitHub/Intercom's ``x-ratelimit-reset`` (epoch seconds, when
  ``x-ratelimit-remaining`` is 0); without a hint it backs off exponentially, and a rate-limit
  answer without a hint waits at least ``RetryPolicy.min_rate_limit_wait`` (GitHub's docs: "wait
  at least one minute" after a secondary limit). The *total* wait is bounded
  (``max_retry_wait_seconds``): past it the client gives up with a :class:`SourceError`.
* Rate limits that do not look like one are recognised too: GitHub's 403 secondary limit (no
  ``retry-after``, ``x-ratelimit-remaining`` above 0, a message naming the limit) and GitHub
  GraphQL's primary limit, an HTTP 200 whose body holds ``errors`` while
  ``x-ratelimit-remaining`` is 0.
* 401/403 become a :class:`SourceError` naming the source and the setting/env var to fix (a 403
  that is really GitHub's rate limit is retried instead).
* A body that is not JSON becomes a :class:`SourceError` naming the (redacted) URL and source.
* Credentials are resolved lazily (first request), and every log line and exception message goes
  through :func:`redact`, so a token never reaches a log or a traceback.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from feedback_pipeline.errors import SourceError
from feedback_pipeline.ingest.paginate import PageRequest, Paginator, paginate

log = logging.getLogger("feedback_pipeline.ingest")
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
REDACTED = "***"


@dataclass(frozen=True)
class Credential:
    """Headers to send, and the secret strings that must never be shown."""

    headers: dict[str, str] = field(default_factory=dict)
    secrets: tuple[str, ...] = ()
    # What to fix when the service rejects it, e.g. "env var FP_GITHUB_TOKEN (sources.token_env)".
    hint: str = ""


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 5
    max_total_wait: float = 120.0
    backoff: float = 1.0
    # A rate-limit answer without Retry-After/reset waits at least this long.
    min_rate_limit_wait: float = 0.0

    def fallback_wait(self, attempt: int) -> float:
        return self.backoff * 2 ** (attempt - 1)


def redact(text: str, secrets: Iterable[str]) -> str:
    """Replace every secret (longest first) in ``text`` with ``***``."""
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    return text


def hinted_wait(response: httpx.Response, now: float | None = None) -> float | None:
    """Seconds the service asks us to wait, from ``Retry-After`` or ``x-ratelimit-reset``."""
    now = time.time() if now is None else now
    retry_after = response.headers.get("retry-after")
    if retry_after:
        value = retry_after.strip()
        if value.replace(".", "", 1).isdigit():
            return float(value)
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            when = None
        if when is not None:
            if when.tzinfo is None:
                when = when.replace(tzinfo=UTC)
            return max(0.0, when.timestamp() - now)
    reset = response.headers.get("x-ratelimit-reset")
    if reset and response.headers.get("x-ratelimit-remaining") == "0":
        try:
            return max(0.0, float(reset) - now)
        except ValueError:
            return None
    return None


def _names_a_rate_limit(response: httpx.Response) -> bool:
    """The JSON body says "rate limit": GitHub's ``message`` or GraphQL ``errors``."""
    try:
        data = response.json()
    except ValueError:
        return False
    if not isinstance(data, dict):
        return False
    texts = [data.get("message")]
    errors = data.get("errors")
    for error in errors if isinstance(errors, list) else []:
        if isinstance(error, dict):
            texts += [error.get("type"), error.get("message")]
    return any(isinstance(t, str) and ("rate limit" in t.lower() or t == "RATE_LIMITED")
               for t in texts)


def _is_rate_limit(response: httpx.Response) -> bool:
    if response.status_code in RETRY_STATUSES:
        return True
    exhausted = response.headers.get("x-ratelimit-remaining") == "0"
    if response.is_success:
        # GitHub GraphQL: the primary limit is an HTTP 200 with `errors` and remaining 0 (a
        # success that merely used the last point has no `errors`).
        return exhausted and _names_a_rate_limit(response)
    # GitHub signals limits with 403: primary (remaining 0), secondary (retry-after, or only a
    # message naming the secondary rate limit while remaining is above 0).
    return response.status_code == 403 and (
        exhausted or "retry-after" in response.headers or _names_a_rate_limit(response)
    )


class HttpClient:
    """A lazily opened ``httpx.Client`` bound to one source.

    Args:
        source: the configured source name (it appears in every error).
        base_url: the service's API root.
        credential: called once, at the first request (never at construction).
        timeout: seconds for connect/read/write.
        retry: attempts and the bounded total wait.
        sleep: injected for tests.
        transport: an httpx transport (tests).
    """

    def __init__(
        self,
        *,
        source: str,
        base_url: str,
        credential: Callable[[], Credential],
        timeout: float = 30.0,
        retry: RetryPolicy | None = None,
        headers: dict[str, str] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.source = source
        self.base_url = base_url
        self._credential_factory = credential
        self._credential: Credential | None = None
        self.timeout = timeout
        self.retry = retry or RetryPolicy()
        self.headers = dict(headers or {})
        self.sleep = sleep
        self.transport = transport
        self._client: httpx.Client | None = None

    @property
    def credential(self) -> Credential:
        if self._credential is None:
            self._credential = self._credential_factory()
        return self._credential

    def _redact(self, text: str) -> str:
        return redact(text, self.credential.secrets if self._credential else ())

    def _open(self) -> httpx.Client:
        if self._client is None:
            self._client = httpx.Client(
                base_url=self.base_url,
                headers={**self.headers, **self.credential.headers},
                timeout=self.timeout,
                transport=self.transport,
                follow_redirects=True,
            )
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def _fail(self, what: str) -> SourceError:
        return SourceError(self._redact(f"source '{self.source}': {what}"))

    def request(self, request: PageRequest, *, missing_ok: bool = False) -> httpx.Response:
        """Send one request, retrying what is worth retrying; return a 2xx response.

        With ``missing_ok`` a 404/410 (deleted record) is returned instead of raised.

        Raises:
            SourceError: credentials rejected, retries or total wait exhausted, or another 4xx.
        """
        client = self._open()
        waited = 0.0
        attempt = 0
        while True:
            attempt += 1
            url = str(client.build_request(request.method, request.path, params=request.params).url)
            try:
                response = client.request(
                    request.method, request.path, params=request.params or None, json=request.json
                )
            except httpx.TransportError as exc:
                problem, wait = f"{type(exc).__name__}: {exc}", None
            else:
                limited = _is_rate_limit(response)
                if not limited and (response.is_success or (
                        missing_ok and response.status_code in (404, 410))):
                    return response
                if not limited:
                    raise self._status_error(response, url)
                problem, wait = f"HTTP {response.status_code}", hinted_wait(response)
                if response.is_success:
                    problem = f"HTTP {response.status_code} with a rate-limit error"
                if wait is None and response.status_code not in (500, 502, 503, 504):
                    wait = max(self.retry.min_rate_limit_wait, self.retry.fallback_wait(attempt))
            if wait is None:
                wait = self.retry.fallback_wait(attempt)
            if attempt >= self.retry.max_attempts or waited + wait > self.retry.max_total_wait:
                raise self._fail(
                    f"{request.method} {url} failed after {attempt} attempt(s) and {waited:.0f}s "
                    f"of waiting ({problem}); the service is rate limiting or down, rerun later "
                    "or raise max_retries / max_retry_wait_seconds"
                )
            log.warning(
                self._redact(f"source '{self.source}': {problem} on {request.method} {url}; "
                             f"retrying in {wait:.1f}s (attempt {attempt})")
            )
            self.sleep(wait)
            waited += wait

    def _status_error(self, response: httpx.Response, url: str) -> SourceError:
        status = response.status_code
        if status in (401, 403):
            return self._fail(
                f"HTTP {status} from {url}: the service rejected the credentials; "
                f"check {self.credential.hint or 'the configured token'}"
            )
        return self._fail(f"HTTP {status} from {url}: {response.text[:300]}")

    def request_json(
        self, request: PageRequest, *, missing_ok: bool = False
    ) -> tuple[Any, httpx.Response]:
        """Send a request and decode its JSON body (None for a missing record with ``missing_ok``).

        Raises:
            SourceError: as :meth:`request`, or the body is not JSON.
        """
        response = self.request(request, missing_ok=missing_ok)
        if not response.is_success:
            return None, response
        try:
            return response.json(), response
        except (ValueError, RecursionError) as exc:  # RecursionError: nested too deeply
            raise self._fail(
                f"{request.method} {response.url} returned a body that is not JSON "
                f"({exc}); first bytes: {response.text[:120]!r}"
            ) from None

    def get_json(self, path: str, *, missing_ok: bool = False, **params: Any) -> Any:
        return self.request_json(PageRequest(path, params=dict(params)), missing_ok=missing_ok)[0]

    def pages(self, request: PageRequest, paginator: Paginator) -> Iterator[Any]:
        """Yield every page's decoded JSON, following ``paginator``."""
        return paginate(self.request_json, request, paginator)


__all__ = ["Credential", "HttpClient", "RetryPolicy", "hinted_wait", "redact"]
