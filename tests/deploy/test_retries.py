"""Task retries fire on transient errors only (flows/retries.py)."""

from __future__ import annotations

import duckdb
import httpx
import pytest

from feedback_pipeline.errors import ConfigError, SinkError, SourceError, WarehouseLockedError
from feedback_pipeline_flows.retries import is_transient, retry_if_transient


def _raised_from(outer: Exception, cause: Exception) -> Exception:
    try:
        try:
            raise cause
        except Exception as exc:
            raise outer from exc
    except Exception as exc:
        return exc


@pytest.mark.parametrize("exc", [
    WarehouseLockedError("in use", path="wh.duckdb", pid=7),
    duckdb.TransactionException("write-write conflict"),
    ConnectionResetError("reset by peer"),
    TimeoutError("read timed out"),
    httpx.ConnectError("refused"),
    _raised_from(SinkError("Slack could not be reached"), httpx.ReadTimeout("slow")),
], ids=["locked", "conflict", "reset", "timeout", "httpx", "sink-from-timeout"])
def test_conditions_that_pass_by_themselves_are_retried(exc):
    assert is_transient(exc)


@pytest.mark.parametrize("exc", [
    ConfigError("FP_GITHUB_TOKEN is not set"),
    SourceError("401 Unauthorized: check FP_GITHUB_TOKEN"),
    SinkError("Jira refused the issue (400)"),
    FileNotFoundError("exports/forum.jsonl"),
    ValueError("a bug"),
    None,
], ids=["config", "auth", "sink-400", "missing-file", "bug", "none"])
def test_permanent_errors_are_not_retried(exc):
    assert not is_transient(exc)


class _State:
    def __init__(self, exc: Exception | None) -> None:
        self.exc = exc

    def result(self):
        if self.exc:
            raise self.exc
        return {"ok": True}


def test_the_retry_condition_reads_the_failed_state():
    assert retry_if_transient(None, None, _State(ConnectionRefusedError("down")))
    assert not retry_if_transient(None, None, _State(ConfigError("no token")))
    assert not retry_if_transient(None, None, _State(None))
