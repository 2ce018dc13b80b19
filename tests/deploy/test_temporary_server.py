"""A run without PREFECT_API_URL, SIGKILLed: Prefect's temporary server does not outlive it, and
the run is shown crashed (flows/local_server.py, warehouse/runs.py)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

BIN = Path(sys.executable).parent


def _processes_with(marker: str) -> list[int]:
    """Live processes whose environment holds ``marker`` (ours only: /proc of our user)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if marker.encode() in (entry / "environ").read_bytes():
                state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
                if state != "Z":
                    found.append(int(entry.name))
        except OSError:
            continue
    return found


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="needs Linux /proc")
def test_a_sigkilled_local_run_leaves_no_server_behind_and_is_shown_crashed(write_config,
                                                                            tmp_path):
    config = write_config()
    home = tmp_path / "prefect-home"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "FP_"))}
    env.update(PREFECT_HOME=str(home), PREFECT_SERVER_ANALYTICS_ENABLED="false",
               FP_CRASH_AT="clean.done", HF_HUB_OFFLINE="1")
    run = subprocess.run([str(BIN / "feedback-pipeline"), "run", "--config", str(config)],
                         env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert run.returncode == -signal.SIGKILL, run.stdout + run.stderr
    assert "Starting temporary server" in run.stdout + run.stderr

    marker = f"PREFECT_HOME={home}"
    left = _processes_with(marker)
    for _ in range(100):  # the watchdog polls every 0.5 s, then gives the server 5 s to stop
        if not left:
            break
        time.sleep(0.2)
        left = _processes_with(marker)
    for pid in left:  # do not leak them into the rest of the suite
        os.kill(pid, signal.SIGKILL)
    assert not left, f"left running after the run was killed: {left}"

    status = subprocess.run([str(BIN / "feedback-pipeline"), "status", "--config", str(config),
                             "--format", "json"], env={**env, "FP_CRASH_AT": ""}, cwd=tmp_path,
                            capture_output=True, text=True, timeout=120)
    assert status.returncode == 0, status.stderr
    (shown,) = json.loads(status.stdout)["runs"]
    # Killed inside the clean task: the ingest stage it finished was saved.
    assert shown["status"] == "crashed" and [s["stage"] for s in shown["stages"]] == ["ingest"]
