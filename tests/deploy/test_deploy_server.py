"""The README's "from zero to a scheduled nightly run", against a real ``prefect server start``.

A Prefect server (temporary PREFECT_HOME, SQLite in tmp) and ``feedback-pipeline deploy`` (serve)
run as subprocesses; the run is triggered with ``prefect deployment run``, as in the README, and
a second one right after it to see the concurrency limit make it wait. Everything is asserted
through the server's REST API.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import duckdb
import httpx
import pytest

pytestmark = pytest.mark.slow

BIN = Path(sys.executable).parent
FLOW = "nightly-feedback"
TIMEZONE = "Europe/Berlin"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(what: str, check: Callable[[], object], timeout: float, procs=(), step=1.0) -> object:
    """Poll ``check`` until it returns something truthy; fail early if a subprocess died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for proc, log in procs:
            if proc.poll() is not None:
                pytest.fail(f"{what}: {proc.args[:3]} exited {proc.returncode}:\n"
                            f"{_tail(log)}")
        result = check()
        if result:
            print(f"{what}: {time.monotonic() - deadline + timeout:.1f}s", file=sys.stderr)
            return result
        time.sleep(step)
    tails = "\n".join(f"--- {proc.args[:3]}\n{_tail(log)}" for proc, log in procs)
    pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}\n{tails}")


def _tail(path: Path, n: int = 40) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-n:]) if path.exists() else ""


class _Retrying(httpx.HTTPTransport):
    """Retries 503s, as Prefect's own client does (SQLite is busy on a loaded machine)."""

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        for _ in range(5):
            response = super().handle_request(request)
            if response.status_code != 503:
                return response
            response.close()
            time.sleep(1)
        return super().handle_request(request)


def _start(args: list[str], env: dict, log: Path, cwd: Path) -> subprocess.Popen:
    # A session of its own, so teardown can end the process and the flow runs it started.
    return subprocess.Popen(args, env=env, cwd=cwd, stdout=log.open("wb"),
                            stderr=subprocess.STDOUT, start_new_session=True)


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGINT)  # serve pauses its schedule on the way out
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=15)
    else:  # its flow-run children may outlive it
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)


@pytest.fixture
def prefect_env(tmp_path: Path) -> dict:
    """Environment of a fresh machine: its own PREFECT_HOME, no inherited Prefect settings."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update({
        "PREFECT_HOME": str(tmp_path / "prefect-home"),
        "PREFECT_API_URL": f"http://127.0.0.1:{port}/api",
        "PREFECT_SERVER_API_PORT": str(port),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "HF_HUB_OFFLINE": "1",
        # Shorter waits than production so the test fits its budget: a run that found the slot
        # taken is retried after 3 s (default 30), the runner polls every 2 s (default 10).
        "PREFECT_SERVER_DEPLOYMENTS_CONCURRENCY_SLOT_WAIT_SECONDS": "3",
        "PREFECT_RUNNER_POLL_FREQUENCY": "2",
    })
    return env


@pytest.fixture
def prefect_server(prefect_env: dict, tmp_path: Path) -> Iterator[httpx.Client]:
    """``prefect server start`` on a free port; yields an HTTP client of its REST API."""
    log = tmp_path / "server.log"
    proc = _start([str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--no-ui"],
                  prefect_env, log, tmp_path)
    api = httpx.Client(base_url=prefect_env["PREFECT_API_URL"] + "/", timeout=10,
                       transport=_Retrying())

    def healthy() -> bool:
        try:
            return api.get("health").status_code == 200
        except httpx.TransportError:
            return False

    try:
        _wait("the Prefect server", healthy, 90, [(proc, log)])
        yield api
    finally:
        api.close()
        _stop(proc)


def _states(api: httpx.Client, run_id: str) -> list[str]:
    r = api.get("flow_run_states/", params={"flow_run_id": run_id})
    r.raise_for_status()
    return [s["name"] for s in r.json()]


def test_deploy_trigger_and_complete(prefect_server, prefect_env, write_config, tmp_path):
    api = prefect_server
    # PCA instead of UMAP: each flow run is a new process, and UMAP's JIT compilation would
    # cost more than the rest of this test; the deployment is what is tested here.
    config = write_config(f'\n[cluster]\nreducer = "pca"\n\n[schedule]\ntimezone = "{TIMEZONE}"\n')
    serve_log = tmp_path / "serve.log"
    serve = _start([str(BIN / "feedback-pipeline"), "deploy", "--config", str(config)],
                   prefect_env, serve_log, tmp_path)
    procs = [(serve, serve_log)]
    try:
        def deployment() -> dict | None:
            r = api.get(f"deployments/name/{FLOW}/nightly")
            return r.json() if r.status_code == 200 else None

        dep = _wait("the deployment", deployment, 90, procs)
        (schedule,) = dep["schedules"]
        assert schedule["active"] is True
        assert schedule["schedule"]["cron"] == "0 2 * * *"
        assert schedule["schedule"]["timezone"] == TIMEZONE
        assert dep["global_concurrency_limit"]["limit"] == 1
        assert dep["concurrency_options"]["collision_strategy"] == "ENQUEUE"
        assert dep["parameters"] == {"config_path": str(config), "dry_run": True,
                                     "full_recluster": False}

        def scheduled() -> list[dict]:
            r = api.post("flow_runs/filter", json={"deployments": {"id": {"any_": [dep["id"]]}}})
            r.raise_for_status()
            return [run for run in r.json() if run["auto_scheduled"]]

        # The server's scheduler turns the cron into runs (it could not with SQLAlchemy 2.1).
        nights = _wait("the scheduler to plan nightly runs", scheduled, 60, procs)
        starts = [datetime.fromisoformat(run["expected_start_time"]).astimezone(ZoneInfo(TIMEZONE))
                  for run in nights]
        assert {(t.hour, t.minute) for t in starts} == {(2, 0)}
        assert all(run["state_name"] == "Scheduled" for run in nights)

        # As in the README; a second run right after it must wait for the first.
        out = subprocess.run([str(BIN / "prefect"), "deployment", "run", f"{FLOW}/nightly"],
                             env=prefect_env, cwd=tmp_path, capture_output=True, text=True,
                             timeout=60, check=True).stdout
        first = re.search(r"UUID: ([0-9a-f-]{36})", out).group(1)
        r = api.post(f"deployments/{dep['id']}/create_flow_run", json={})
        r.raise_for_status()
        second = r.json()["id"]

        # The work-pool alternative of the README, while the runs go on: it registers and exits.
        for args in (["prefect", "work-pool", "create", "fp-pool", "--type", "process"],
                     ["feedback-pipeline", "deploy", "--config", str(config), "--work-pool",
                      "fp-pool", "--name", "pooled"]):
            done = subprocess.run([str(BIN / args[0]), *args[1:]], env=prefect_env, cwd=tmp_path,
                                  capture_output=True, text=True, timeout=90)
            assert done.returncode == 0, done.stdout + done.stderr

        def finished() -> list[dict] | None:
            runs = [api.get(f"flow_runs/{i}").json() for i in (first, second)]
            if any(run["state_type"] in ("FAILED", "CRASHED", "CANCELLED") for run in runs):
                pytest.fail(f"a run did not complete: {[run['state'] for run in runs]}\n"
                            f"{_tail(serve_log, 80)}")
            return runs if all(run["state_type"] == "COMPLETED" for run in runs) else None

        runs = _wait("both runs to complete", finished, 240, procs, step=2)
    finally:
        _stop(serve)

    # Never overlapping: one run waited for the slot, and started after the other ended.
    waited = [run for run in runs if "AwaitingConcurrencySlot" in _states(api, run["id"])]
    assert len(waited) == 1
    other = next(run for run in runs if run is not waited[0])
    assert (datetime.fromisoformat(waited[0]["start_time"])
            >= datetime.fromisoformat(other["end_time"]))

    pooled = api.get(f"deployments/name/{FLOW}/pooled").json()
    assert pooled["work_pool_name"] == "fp-pool"
    assert pooled["entrypoint"] == "flows/nightly.py:nightly"
    assert [s["schedule"]["timezone"] for s in pooled["schedules"]] == [TIMEZONE]
    assert pooled["global_concurrency_limit"]["limit"] == 1
    assert pooled["parameters"] == dep["parameters"]

    con = duckdb.connect(str(tmp_path / "wh.duckdb"), read_only=True)
    try:
        assert con.execute("SELECT status, count(*) FROM runs GROUP BY ALL").fetchall() == [
            ("completed", 2)]
        assert con.execute("SELECT count(*) FROM items").fetchone()[0] == 40
        titles = [t for (t,) in con.execute(
            "SELECT DISTINCT title FROM themes JOIN theme_scores USING (theme_id)").fetchall()]
    finally:
        con.close()
    assert titles

    r = api.post("artifacts/filter", json={"artifacts": {
        "key": {"any_": ["ranked-themes"]}, "flow_run_id": {"any_": [first, second]}}})
    r.raise_for_status()
    artifacts = r.json()
    assert {a["flow_run_id"] for a in artifacts} == {first, second}
    for artifact in artifacts:  # the ranked themes of the warehouse, published in Prefect
        assert artifact["type"] == "markdown"
        assert any(title.replace("|", "\\|") in artifact["data"] for title in titles)
