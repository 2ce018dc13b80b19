"""Failures Prefect can see: every source failing fails the run, a partly failed night says so,
a missing credential fails at start-up; the runs table agrees with Prefect each time."""

from __future__ import annotations

import socket

import duckdb
import pytest

from feedback_pipeline.config import load_settings

from .conftest import config_toml, github_down, tiny_records

pytestmark = pytest.mark.slow


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _github() -> str:
    return github_down(_closed_port())


def _config(tmp_path, sources: str) -> str:
    path = tmp_path / "config.toml"
    path.write_text(config_toml(tmp_path, sources), encoding="utf-8")
    return str(path)


def _runs(config: str) -> list[tuple]:
    con = duckdb.connect(str(load_settings(config).warehouse), read_only=True)
    try:
        return con.execute("SELECT status, flow_run_id, error FROM runs").fetchall()
    finally:
        con.close()


def _logs(flow_run_id) -> list[tuple[int, str]]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId
    from prefect.logging.handlers import APILogHandler

    APILogHandler().flush()
    with get_client(sync_client=True) as client:
        logs = client.read_logs(LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run_id])))
    return [(log.level, log.message) for log in logs]


def test_a_night_where_every_source_fails_is_failed_with_the_errors_in_its_logs(
        prefect_harness, tmp_path, monkeypatch):
    from feedback_pipeline_flows.nightly import nightly

    monkeypatch.setenv("FP_TEST_GITHUB_TOKEN", "ghp_test")
    config = _config(tmp_path, _github())
    state = nightly(config_path=config, return_state=True)

    assert state.is_failed()
    assert "every source failed" in state.message and "github-down" in state.message
    flow_run_id = state.state_details.flow_run_id
    errors = [message for level, message in _logs(flow_run_id) if level >= 40]
    assert any(m.startswith("source github-down failed:") for m in errors), errors
    ((status, recorded_id, error),) = _runs(config)
    assert (status, recorded_id) == ("failed", str(flow_run_id))
    assert "SourceError: every source failed" in error


def test_a_missing_credential_fails_the_run_at_start_up(prefect_harness, tmp_path, monkeypatch):
    from feedback_pipeline_flows.nightly import nightly

    monkeypatch.delenv("FP_TEST_GITHUB_TOKEN", raising=False)
    monkeypatch.delenv("PREFECT_API_URL", raising=False)  # no Secret block to fall back on
    config = _config(tmp_path, _github())
    state = nightly(config_path=config, return_state=True)

    assert state.is_failed() and "FP_TEST_GITHUB_TOKEN" in state.message
    ((status, recorded_id, error),) = _runs(config)
    assert (status, recorded_id) == ("failed", str(state.state_details.flow_run_id))
    assert error.startswith("ConfigError:") and "FP_TEST_GITHUB_TOKEN" in error


def test_a_partly_failed_night_completes_and_says_which_source_failed(
        prefect_harness, tmp_path, monkeypatch):
    import json

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import TaskRunFilter, TaskRunFilterName

    from feedback_pipeline_flows.nightly import nightly

    monkeypatch.setenv("FP_TEST_GITHUB_TOKEN", "ghp_test")
    data = tmp_path / "tickets.jsonl"
    data.write_text("\n".join(json.dumps(r) for r in tiny_records()) + "\n", encoding="utf-8")
    config = _config(tmp_path, f'[[sources]]\nname = "tickets"\npath = "{data}"\n' + _github())
    state = nightly(config_path=config, return_state=True)

    assert state.is_completed()
    assert state.message == "1 of 2 sources failed: github-down"
    stats = state.result()
    assert stats["ingest"]["new"] == len(tiny_records())
    assert stats["ingest"]["failed_sources"] == ["github-down"]
    flow_run_id = state.state_details.flow_run_id
    with get_client(sync_client=True) as client:
        (ingest,) = [t for t in client.read_task_runs(
            task_run_filter=TaskRunFilter(name=TaskRunFilterName(like_="ingest")))
            if t.flow_run_id == flow_run_id]
        events = client.request("POST", "/events/filter", json={"filter": {
            "event": {"name": ["feedback-pipeline.source.failed"]},
            "related": {"resources_in_roles": [[f"prefect.flow-run.{flow_run_id}",
                                                "flow-run"]]}}}).json()["events"]
    assert ingest.state.message == "1 of 2 sources failed: github-down"
    assert [e["resource"]["prefect.resource.name"] for e in events] == ["github-down"]
    assert any(level >= 40 and m.startswith("source github-down failed:")
               for level, m in _logs(flow_run_id))
    ((status, recorded_id, error),) = _runs(config)
    assert (status, recorded_id, error) == ("completed", str(flow_run_id), None)
