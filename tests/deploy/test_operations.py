"""Operated the Prefect way, against one real ``prefect server start`` for the whole module.

The deployment is made from the project's own ``prefect.yaml`` (``prefect deploy --all``): its
pull step clones a git repository of this working tree (its URL and branch in Prefect
Variables), a process worker started in another folder runs the flow runs, and the Automations
of ``feedback-pipeline automations`` post to a local webhook stub through a notification block.
Four runs of that one deployment, one after the other (its concurrency limit is 1):

1. embedding on a Dask cluster whose only worker cannot import the package: Failed, and the slot
   is free for the next runs;
2. every source failing: Failed, the error in the run's Prefect logs, the Failed Automation posts;
3. SIGKILLed after the clean stage: Crashed, the Crashed Automation posts, ``status`` says
   crashed;
4. the rerun: Completed.

Then ``status`` and Prefect agree on every run; last, a run that no worker picks up (its pool
paused) turns Late and the Late Automation posts.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from feedback_pipeline_flows.deploy import ENTRYPOINT

from .conftest import config_toml, github_down, tiny_records
from .prefect_server import BIN, FLOW, free_port, running_server, server_env, start, stop, tail
from .prefect_server import wait as wait_for

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
BLOCK = "custom-webhook/fp-test-alerts"
TERMINAL = ("COMPLETED", "FAILED", "CRASHED", "CANCELLED")


class WebhookStub(ThreadingHTTPServer):
    """Collects the JSON bodies POSTed to it (what a Slack incoming webhook would receive)."""

    def __init__(self) -> None:
        self.received: list[dict] = []

        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                length = int(self.headers.get("Content-Length") or 0)
                stub.received.append(json.loads(self.rfile.read(length) or b"{}"))
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: object) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server_address[1]}/hook"
        threading.Thread(target=self.serve_forever, daemon=True).start()


@dataclass
class Ops:
    api: httpx.Client
    env: dict
    folder: Path
    stub: WebhookStub
    deployment: dict = field(default_factory=dict)
    procs: list = field(default_factory=list)

    @property
    def warehouse(self) -> Path:
        return self.folder / "wh.duckdb"

    def run(self, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
        done = subprocess.run([str(BIN / args[0]), *args[1:]], env=self.env,
                              cwd=cwd or self.folder, capture_output=True, text=True, timeout=180)
        assert done.returncode == 0, f"{args}: {done.stdout}\n{done.stderr}"
        return done

    def config(self, name: str, sources: str, extra: str = "") -> Path:
        path = self.folder / name
        path.write_text(config_toml(self.folder, sources, f'[alerts]\nnotify_block = "{BLOCK}"\n'
                                    + extra), encoding="utf-8")
        return path

    def trigger(self, **body: object) -> str:
        r = self.api.post(f"deployments/{self.deployment['id']}/create_flow_run", json=body)
        r.raise_for_status()
        return r.json()["id"]

    def finished(self, run_id: str, timeout: float = 300) -> dict:
        def done() -> dict | None:
            run = self.api.get(f"flow_runs/{run_id}").json()
            return run if run["state_type"] in TERMINAL else None

        return wait_for(f"flow run {run_id} to finish", done, timeout, self.procs, step=2)

    def logs(self, run_id: str) -> list[tuple[int, str]]:
        r = self.api.post("logs/filter", json={"logs": {"flow_run_id": {"any_": [run_id]}}})
        r.raise_for_status()
        return [(log["level"], log["message"]) for log in r.json()]

    def alerts_for(self, run: dict) -> list[str]:
        return [m["body"] for m in self.stub.received if run["name"] in m.get("body", "")]

    def status(self) -> list[dict]:
        out = self.run("feedback-pipeline", "status", "--warehouse", str(self.warehouse),
                       "--format", "json", "--limit", "20").stdout
        return json.loads(out)["runs"]


def _tickets(folder: Path) -> str:
    data = folder / "tickets.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in tiny_records()), encoding="utf-8")
    return f'[[sources]]\nname = "tickets"\npath = "{data}"\n'


def _git_copy(ops: Ops) -> Path:
    """This working tree (tracked and new files) as a git repository with a test config."""
    repo = ops.folder / "repo"
    files = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"],
                           cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    for name in files:
        if (ROOT / name).is_file() and not name.startswith(("tests/", "bench/", "docs/")):
            (repo / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, repo / name)
    shutil.copy2(ops.config("shipped.toml", _tickets(ops.folder)), repo / "deploy" / "nightly.toml")
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com"]
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "deploy"]):
        subprocess.run([*git, *args], cwd=repo, check=True, capture_output=True)
    return repo


@pytest.fixture(scope="module")
def ops(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ops]:
    folder = tmp_path_factory.mktemp("ops")
    env = server_env(folder / "prefect-home")
    env["FP_TEST_GITHUB_TOKEN"] = "ghp_test"
    stub = WebhookStub()
    try:
        with running_server(env, folder) as api:
            ops = Ops(api, env, folder, stub)
            block = (f"from prefect.blocks.notifications import CustomWebhookNotificationBlock "
                     f"as B; B(name='fp-test', url='{stub.url}', json_data={{'subject': "
                     f"'{{{{subject}}}}', 'body': '{{{{body}}}}'}}).save('fp-test-alerts')")
            ops.run("python", "-c", block)
            ops.run("prefect", "work-pool", "create", "feedback", "--type", "process")
            repo = _git_copy(ops)
            ops.run("prefect", "variable", "set", "fp_git_repository", f"file://{repo}")
            ops.run("prefect", "variable", "set", "fp_git_branch", "main")
            ops.run("prefect", "--no-prompt", "deploy", "--all", cwd=repo)
            ops.run("feedback-pipeline", "automations", "--config", "deploy/nightly.toml",
                    cwd=repo)
            ops.deployment = api.get(f"deployments/name/{FLOW}/nightly").json()
            elsewhere = folder / "worker-home"
            elsewhere.mkdir()
            log = folder / "worker.log"
            worker = start([str(BIN / "prefect"), "worker", "start", "--pool", "feedback"],
                           env, log, elsewhere)
            ops.procs.append((worker, log))
            try:
                yield ops
            finally:
                stop(worker)
    finally:
        stub.shutdown()


def test_the_deployment_is_the_one_prefect_yaml_describes(ops: Ops):
    dep = ops.deployment
    assert dep["entrypoint"] == ENTRYPOINT
    assert dep["work_pool_name"] == "feedback"
    assert dep["parameters"]["config_path"] == "deploy/nightly.toml"
    assert dep["global_concurrency_limit"]["limit"] == 1
    assert dep["job_variables"]["env"]["PREFECT_LOGGING_EXTRA_LOGGERS"] == "feedback_pipeline"
    r = ops.api.post("automations/filter", json={})
    r.raise_for_status()
    assert sorted(a["name"] for a in r.json()) == sorted(
        f"{FLOW}: {what}" for what in ("run failed", "run crashed", "run late",
                                       "running too long"))


@pytest.fixture(scope="module")
def broken_dask(ops: Ops) -> Iterator[str]:
    """A Dask scheduler whose one worker cannot import this package (nor flows)."""
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    logs = [ops.folder / "scheduler.log", ops.folder / "dask-worker.log"]
    scheduler = start([str(BIN / "dask"), "scheduler", "--host", "127.0.0.1", "--port",
                       str(port), "--no-dashboard"], ops.env, logs[0], ops.folder)
    poisoned = ("import sys; sys.modules['feedback_pipeline'] = None; "
                "sys.modules['flows'] = None; from distributed.cli.dask_worker import main; main()")
    worker = start([sys.executable, "-c", poisoned, address, "--nthreads", "1", "--no-nanny",
                    "--no-dashboard"], ops.env, logs[1], ops.folder)
    try:
        wait_for("the Dask worker", lambda: "Registered to" in tail(logs[1], 200), 90,
                 [(scheduler, logs[0]), (worker, logs[1])])
        yield address
    finally:
        stop(worker)
        stop(scheduler)


@pytest.fixture(scope="module")
def nights(ops: Ops, broken_dask: str) -> dict[str, dict]:
    """The four runs, in order; each starts only once the one before it has ended."""
    tickets = _tickets(ops.folder)
    dask = ops.config("dask.toml", tickets, f"""
[embed.dask]
enabled = true
address = "{broken_dask}"
chunk_timeout_seconds = 20
""")
    down = ops.config("down.toml", github_down(free_port()))
    runs: dict[str, dict] = {}
    runs["dask"] = ops.finished(ops.trigger(parameters={"config_path": str(dask)}))
    runs["down"] = ops.finished(ops.trigger(parameters={"config_path": str(down)}))
    runs["crash"] = ops.finished(ops.trigger(job_variables={"env": {"FP_CRASH_AT":
                                                                     "clean.done"}}))
    runs["crash_status"] = {"runs": ops.status()}
    runs["rerun"] = ops.finished(ops.trigger())
    return runs


def test_a_dask_worker_without_the_package_fails_the_run_and_frees_the_slot(ops, nights):
    run = nights["dask"]
    assert run["state_type"] == "FAILED", run["state"]
    message = run["state"]["message"]
    print(f"\nthe Dask run: {message[:400]}")
    assert "ModuleNotFoundError" in message or "did not come back" in message, message
    # The slot was given back: the deployment's next three runs (limit 1) all ran.
    assert all(nights[n]["start_time"] for n in ("down", "crash", "rerun"))


def test_every_source_failing_fails_the_run_with_the_error_in_its_logs_and_alerts(ops, nights):
    run = nights["down"]
    assert run["state_type"] == "FAILED"
    assert "every source failed" in run["state"]["message"]
    errors = [m for level, m in ops.logs(run["id"]) if level >= 40]
    assert any(m.startswith("source github-down failed:") for m in errors), errors
    alerts = wait_for("the Failed automation", lambda: ops.alerts_for(run), 90)
    assert any("is Failed" in body and "every source failed" in body for body in alerts), alerts


def test_a_sigkilled_run_is_crashed_alerted_and_never_shown_running(ops, nights):
    run = nights["crash"]
    assert run["state_type"] == "CRASHED", run["state"]
    alerts = wait_for("the Crashed automation", lambda: ops.alerts_for(run), 90)
    assert any("is Crashed" in body for body in alerts), alerts
    shown = {r["flow_run_id"]: r for r in nights["crash_status"]["runs"]}
    assert shown[run["id"]]["status"] == "crashed"
    # Killed inside the clean task: what was saved is the finished ingest stage.
    assert [s["stage"] for s in shown[run["id"]]["stages"]] == ["ingest"]


def test_the_rerun_completes_and_status_agrees_with_prefect_on_every_run(ops, nights):
    assert nights["rerun"]["state_type"] == "COMPLETED", nights["rerun"]["state"]
    status = ops.status()
    assert "running" not in {r["status"] for r in status}
    ours = {r["flow_run_id"]: r["status"] for r in status}
    prefect = {nights[n]["id"]: nights[n]["state_type"].lower()
               for n in ("dask", "down", "crash", "rerun")}
    assert ours == prefect


def test_a_run_that_does_not_start_on_time_is_late_and_alerts(ops, nights):
    # No worker takes runs from a paused pool: the run is past its start, Prefect marks it Late.
    ops.run("prefect", "work-pool", "pause", "feedback")
    run_id = ops.trigger()

    def late() -> dict | None:
        run = ops.api.get(f"flow_runs/{run_id}").json()
        return run if run["state_name"] == "Late" else None

    try:
        run = wait_for("the run to turn Late", late, 120)
        alerts = wait_for("the Late automation", lambda: ops.alerts_for(run), 90)
        assert any("is Late" in body for body in alerts), alerts
    finally:
        ops.api.post(f"flow_runs/{run_id}/set_state",
                     json={"state": {"type": "CANCELLED", "name": "Cancelled"}, "force": True})
        ops.run("prefect", "work-pool", "resume", "feedback")
