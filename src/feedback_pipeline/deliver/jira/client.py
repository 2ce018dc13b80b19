"""Building the ``jira.JIRA`` client and turning its errors into ``SinkError`` messages.

Retries of 429 (honouring ``Retry-After``), 503 and connection errors are the library's
(``ResilientSession``, bounded by ``max_retries``); everything else surfaces here as a
``SinkError`` that says what to do next.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from feedback_pipeline.deliver.jira.config import JiraConfig
from feedback_pipeline.errors import SinkError

if TYPE_CHECKING:
    from jira import JIRA
    from jira.exceptions import JIRAError

# The Jira permission each operation needs, for 403 messages.
PERMISSIONS = {
    "search": "Browse Projects",
    "read": "Browse Projects",
    "create": "Create Issues",
    "update": "Edit Issues",
    "comment": "Add Comments",
    "link": "Link Issues",
}


def build_client(settings: JiraConfig) -> JIRA:
    """Connect (``GET serverInfo``, which also tells Cloud from Server/Data Center).

    Raises:
        ConfigError: the server or a credential is not configured.
        SinkError: Jira cannot be reached or refuses the credentials.
    """
    from feedback_pipeline.errors import ConfigError

    try:
        from jira import JIRA
        from jira.exceptions import JIRAError
    except ImportError as exc:  # pragma: no cover - a declared dependency
        raise ConfigError("the Jira sink needs the jira package: pip install 'jira>=3.10,<4'") \
            from exc
    import requests

    if not settings.server:
        raise ConfigError("deliver.jira.server is not set (e.g. https://acme.atlassian.net)")
    user, token = settings.credentials()
    auth: dict = ({"token_auth": token.get_secret_value()} if user is None
                  else {"basic_auth": (user, token.get_secret_value())})
    try:
        return JIRA(server=settings.server, timeout=settings.timeout_seconds,
                    max_retries=settings.max_retries, get_server_info=True, logging=False,
                    **auth)
    except JIRAError as exc:
        # Not "from exc": str(JIRAError) prints the request headers, Authorization included.
        raise jira_error(exc, settings, "read") from None
    except requests.RequestException as exc:
        raise SinkError(f"cannot reach Jira at {settings.server}: {type(exc).__name__}. Check "
                        "deliver.jira.server and the network; results stay in the outbox.") \
            from exc


def jira_error(exc: JIRAError, settings: JiraConfig, operation: str, *,
               issue: str | None = None) -> SinkError:
    """A ``SinkError`` naming the project, the missing permission, or Jira's error body."""
    where = f"issue {issue}" if issue else f"project {settings.project}"
    status = exc.status_code
    if status == 401:
        return SinkError(
            f"Jira at {settings.server} rejected the credentials (401). Check {settings.token_env}"
            + ("" if settings.auth == "pat" else f" and {settings.user_env}")
            + f" (deliver.jira.auth = {settings.auth!r}).")
    if status == 403:
        perm = PERMISSIONS.get(operation, operation)
        return SinkError(
            f"Jira refused to {operation} in {where} (403): the account lacks the "
            f"'{perm}' permission in project {settings.project}. Grant it in the project's "
            f"permission scheme. Jira said: {exc.text}")
    if status == 400:
        body = exc.response.text if exc.response is not None else exc.text
        if operation == "create" and '"issuetype"' in (body or ""):
            mapped = ", ".join(f"{k} -> {v}" for k, v in settings.issue_types.items())
            return SinkError(
                f"Jira rejected the issue type for project {settings.project} (400): the "
                "project has no such issue type. Set deliver.jira.issue_types (now: "
                f"{mapped or 'none'}) and deliver.jira.issue_type (now: {settings.issue_type}) "
                "to types the project has (Project settings > Issue types). Jira said: "
                f"{body}")
        return SinkError(f"Jira rejected the {operation} request for {where} (400): {body}")
    if status == 404:
        return SinkError(f"Jira: {where} not found (404) during {operation}: {exc.text}")
    return SinkError(f"Jira error during {operation} for {where} (HTTP {status}): {exc.text}")


@contextmanager
def no_retries(client: JIRA) -> Iterator[None]:
    """Disable the library's automatic retries for one non-idempotent call (issue create).

    A dropped connection after Jira created the issue would otherwise be retried into a
    second issue; instead the sink looks the issue up by its label.
    """
    session = client._session  # the library exposes no public switch for this
    saved = session.max_retries
    session.max_retries = 0
    try:
        yield
    finally:
        session.max_retries = saved


def create_issue(client: JIRA, fields: dict, *, max_retries: int, max_delay: float = 60.0) -> Any:
    """Create an issue, retrying only answers that mean "not done" (429, 503).

    The library's own retries are off for this call: they also repeat a POST after a dropped
    connection, when Jira may already have created the issue.
    """
    from jira.exceptions import JIRAError

    for attempt in range(max_retries + 1):
        try:
            with no_retries(client):
                return client.create_issue(fields=fields, prefetch=False)
        except JIRAError as exc:
            if exc.status_code not in (429, 503) or attempt == max_retries:
                raise
            time.sleep(min(max_delay, _retry_after(exc) or 10 * 2**attempt))
    raise AssertionError("unreachable")  # pragma: no cover


def all_comments(client: JIRA, key: str, *, page_size: int = 100) -> list[Any]:
    """Every comment of an issue: ``GET /issue/{key}/comment`` pages (100 by default)."""
    comments: list[Any] = []
    while True:
        page = client.comments(key, start_at=len(comments), max_results=page_size)
        comments.extend(page)
        if not page:  # the server may cap a page below page_size: only an empty one is the end
            return comments


def _retry_after(exc: JIRAError) -> float | None:
    value = exc.response.headers.get("Retry-After") if exc.response is not None else None
    try:
        return max(float(value), 0.5) if value else None
    except ValueError:
        return None


__all__ = ["PERMISSIONS", "all_comments", "build_client", "create_issue", "jira_error",
           "no_retries"]
