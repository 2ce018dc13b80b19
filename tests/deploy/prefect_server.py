"""A real ``prefect server start`` for the deployment tests, and helpers to drive it.

Each test module starts its own server (temporary PREFECT_HOME, SQLite in tmp) on a free port and
talks to it over its REST API; processes started here get a session of their own so teardown
ends them and whatever they started.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

BIN = Path(sys.executable).parent
FLOW = "nightly-feedback"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait(what: str, check: Callable[[], object], timeout: float, procs=(), step=1.0) -> object:
    """Poll ``check`` until it returns something truthy; fail early if a subprocess died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for proc, log in procs:
            if proc.poll() is not None:
                pytest.fail(f"{what}: {proc.args[:3]} exited {proc.returncode}:\n"
                            f"{tail(log)}")
        result = check()
        if result:
            print(f"{what}: {time.monotonic() - deadline + timeout:.1f}s", file=sys.stderr)
            return result
        time.sleep(step)
    tails = "\n".join(f"--- {proc.args[:3]}\n{tail(log)}" for proc, log in procs)
    pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}\n{tails}")


def tail(path: Path, n: int = 40) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-n:]) if path.exists() else ""


class Retrying(httpx.HTTPTransport):
    """Retries 503s, as Prefect's own client does (SQLite is busy on a loaded machine)."""

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        for _ in range(5):
            response = super().handle_request(request)
            if response.status_code != 503:
                return response
            response.close()
            time.sleep(1)
        return super().handle_request(request)


def start(args: list[str], env: dict, log: Path, cwd: Path) -> subprocess.Popen:
    # A session of its own, so teardown can end the process and the flow runs it started.
    return subprocess.Popen(args, env=env, cwd=cwd, stdout=log.open("wb"),
                            stderr=subprocess.STDOUT, start_new_session=True)


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGINT)  # serve and workers stop their runs on the way out
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=15)
    else:  # its flow-run children may outlive it
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)


def server_env(home: Path) -> dict:
    """Environment of a fresh machine: its own PREFECT_HOME, no inherited Prefect settings."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update({
        "PREFECT_HOME": str(home),
        "PREFECT_API_URL": f"http://127.0.0.1:{port}/api",
        "PREFECT_SERVER_API_PORT": str(port),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "HF_HUB_OFFLINE": "1",
        # Shorter waits than production so the tests fit their budget: a run that found the slot
        # taken is retried after 3 s (default 30), runners and workers poll every 2 s.
        "PREFECT_SERVER_DEPLOYMENTS_CONCURRENCY_SLOT_WAIT_SECONDS": "3",
        "PREFECT_RUNNER_POLL_FREQUENCY": "2",
        "PREFECT_WORKER_QUERY_SECONDS": "2",
    })
    return env


@contextmanager
def running_server(env: dict, folder: Path) -> Iterator[httpx.Client]:
    """``prefect server start`` with ``env``; yields an HTTP client of its REST API."""
    log = folder / "server.log"
    proc = start([str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--no-ui"],
                 env, log, folder)
    api = httpx.Client(base_url=env["PREFECT_API_URL"] + "/", timeout=10, transport=Retrying())

    def healthy() -> bool:
        try:
            return api.get("health").status_code == 200
        except httpx.TransportError:
            return False

    try:
        wait("the Prefect server", healthy, 90, [(proc, log)])
        yield api
    finally:
        api.close()
        stop(proc)


def states(api: httpx.Client, run_id: str) -> list[str]:
    r = api.get("flow_run_states/", params={"flow_run_id": run_id})
    r.raise_for_status()
    return [s["name"] for s in r.json()]


__all__ = ["BIN", "FLOW", "Retrying", "free_port", "running_server", "server_env", "start",
           "states", "stop", "tail", "wait"]
