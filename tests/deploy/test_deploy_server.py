"""The README's "from zero to a scheduled nightly run", against a real ``prefect server start``.

A Prefect server (temporary PREFECT_HOME, SQLite in tmp) and ``feedback-pipeline deploy`` (serve)
run as subprocesses; the run is triggered with ``prefect deployment run``, as in the README, and
a second one right after it to see the concurrency limit make it wait. Everything is asserted
through the server's REST API.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import duckdb
import httpx
import pytest

from feedback_pipeline_flows.deploy import ENTRYPOINT, RUN_ENV

from .prefect_server import BIN, FLOW, running_server, server_env
from .prefect_server import start as _start
from .prefect_server import states as _states
from .prefect_server import stop as _stop
from .prefect_server import tail as _tail
from .prefect_server import wait as _wait

pytestmark = pytest.mark.slow

TIMEZONE = "Europe/Berlin"


@pytest.fixture
def prefect_env(tmp_path: Path) -> dict:
    """Environment of a fresh machine: its own PREFECT_HOME, no inherited Prefect settings."""
    return server_env(tmp_path / "prefect-home")


@pytest.fixture
def prefect_server(prefect_env: dict, tmp_path: Path) -> Iterator[httpx.Client]:
    """``prefect server start`` on a free port; yields an HTTP client of its REST API."""
    with running_server(prefect_env, tmp_path) as api:
        yield api


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

        # A pool that does not exist is one line saying how to create it, not a traceback.
        missing = subprocess.run([str(BIN / "feedback-pipeline"), "deploy", "--config",
                                  str(config), "--work-pool", "no-such-pool"], env=prefect_env,
                                 cwd=tmp_path, capture_output=True, text=True, timeout=90)
        assert missing.returncode == 2
        assert missing.stderr.strip().splitlines() == [
            "error: no work pool 'no-such-pool' on the Prefect server: create it with `prefect "
            "work-pool create no-such-pool --type process` (or pass the name of an existing "
            "one: `prefect work-pool ls`)"]

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

    # Serve stopped (as systemd stops it): the schedule stays on, so missed nights turn Late.
    stopped = api.get(f"deployments/{dep['id']}").json()
    assert stopped["paused"] is False and stopped["schedules"][0]["active"] is True

    # Never overlapping: one run waited for the slot, and started after the other ended.
    waited = [run for run in runs if "AwaitingConcurrencySlot" in _states(api, run["id"])]
    assert len(waited) == 1
    other = next(run for run in runs if run is not waited[0])
    assert (datetime.fromisoformat(waited[0]["start_time"])
            >= datetime.fromisoformat(other["end_time"]))

    pooled = api.get(f"deployments/name/{FLOW}/pooled").json()
    assert pooled["work_pool_name"] == "fp-pool"
    assert pooled["entrypoint"] == ENTRYPOINT  # imported from the worker's environment
    assert pooled["pull_steps"] in (None, [])
    assert pooled["job_variables"] == {"env": RUN_ENV}
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
