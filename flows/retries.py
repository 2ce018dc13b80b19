"""Which task failures are worth a Prefect retry: transient ones only.

The connectors and sinks already retry what is transient inside one request (429 with
Retry-After, 5xx, dropped connections; ``ingest/http.py``, the sinks' ``max_retries``), and a
failed source does not fail the ingest task at all. What still reaches a task's retry is either
permanent (bad credentials, a missing file, a bug: retrying waits 70 s for the same error) or a
condition that passes by itself: the warehouse locked by another process, a DuckDB write
conflict, a network error nobody caught. Only those are retried.
"""

from __future__ import annotations

from typing import Any

import duckdb

from feedback_pipeline.errors import WarehouseLockedError


def _transient_types() -> tuple[type[BaseException], ...]:
    kinds: list[type[BaseException]] = [WarehouseLockedError, duckdb.TransactionException,
                                        ConnectionError, TimeoutError]
    try:
        import httpx

        kinds.append(httpx.TransportError)
    except ImportError:  # pragma: no cover - httpx is a dependency
        pass
    try:
        import requests

        kinds += [requests.ConnectionError, requests.Timeout]
    except ImportError:  # pragma: no cover - jira pulls in requests
        pass
    return tuple(kinds)


def is_transient(exc: BaseException | None) -> bool:
    """Whether ``exc``, or an exception it was raised ``from``, is one that passes by itself."""
    kinds = _transient_types()
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, kinds) or getattr(exc, "transient", False):
            return True
        seen.add(id(exc))
        exc = exc.__cause__
    return False


def retry_if_transient(task: Any, task_run: Any, state: Any) -> bool:
    """Prefect ``retry_condition_fn``: retry only when the task failed on a transient error."""
    try:
        state.result()
    except BaseException as exc:  # noqa: BLE001 - the state's own exception, re-raised by Prefect
        return is_transient(exc)
    return False


__all__ = ["is_transient", "retry_if_transient"]
