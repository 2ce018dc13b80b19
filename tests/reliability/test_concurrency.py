"""Concurrency: while one ``feedback-pipeline run`` holds the warehouse, a second run and a
read-only ``feedback-pipeline themes`` exit at once with a clear message naming the process that
holds it; the first run completes; the DuckDB file is intact and equals an uninterrupted run.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from .crash_harness import Reference, World, differences, integrity

pytestmark = [pytest.mark.reliability, pytest.mark.slow]

LOCKED = "is in use by process {pid}"
HOLD_AT = "embed.chunk.committed:3"  # mid-embed: the file is open for writing, half the vectors in


def _wait_for(path: Path, proc, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"the first run ended ({proc.returncode}) before {HOLD_AT}:\n{err[-4000:]}")
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"the first run did not reach {HOLD_AT} in {timeout:.0f} s")
        time.sleep(0.1)


def test_a_second_run_and_a_reader_exit_clearly_while_a_run_writes(
        tmp_path: Path, prefect_api_url: str, crash_reference: Reference):
    with World(tmp_path / "world", prefect_api_url) as world:
        gate = tmp_path / "release"
        started = time.monotonic()
        first = world.start("run", FP_PAUSE_AT=HOLD_AT, FP_PAUSE_FILE=str(gate))
        _wait_for(Path(f"{gate}.reached"), first)

        second = world.run("run")
        reader = world.run("themes")
        gate.touch()
        done = world.finish(first, ("run", "(first)"), started)

        message = LOCKED.format(pid=first.pid)
        for other in (second, reader):
            assert other.returncode == 2, str(other)
            assert f"error: the warehouse {world.warehouse} {message}" in other.stderr, str(other)
            assert "Wait for that process to finish and try again" in other.stderr
            assert "Traceback" not in other.stderr.split("error: the warehouse")[-1]
        assert done.returncode == 0, str(done)
        print(f"\nconcurrency: second run exit {second.returncode} in {second.seconds:.1f} s, "
              f"themes exit {reader.returncode} in {reader.seconds:.1f} s; first run "
              f"{done.seconds:.0f} s")
        checked = integrity(world.warehouse)
        state = world.snapshot()

    # The second run never got in: one run row, nothing delivered twice, same state.
    assert differences(crash_reference.state, state) == {}
    assert checked["tables"]["runs"] == 1
    assert checked["tables"]["items"] == len(crash_reference.state["items"])


def test_two_runs_started_at_once(tmp_path: Path, prefect_api_url: str,
                                  crash_reference: Reference):
    with World(tmp_path / "world", prefect_api_url) as world:
        started = time.monotonic()
        procs = [world.start("run"), world.start("run")]
        with ThreadPoolExecutor(max_workers=2) as pool:  # each run's own duration
            runs = list(pool.map(lambda n: world.finish(procs[n], ("run", f"#{n + 1}"), started),
                                 range(2)))
        checked = integrity(world.warehouse)
        state = world.snapshot()

    codes = sorted(r.returncode for r in runs)
    assert codes == [0, 2], "\n\n".join(map(str, runs))
    winner = next(p for p, r in zip(procs, runs, strict=True) if r.returncode == 0)
    loser = next(r for r in runs if r.returncode == 2)
    assert LOCKED.format(pid=winner.pid) in loser.stderr, str(loser)
    print(f"\ntwo runs at once: one completed in {max(r.seconds for r in runs):.0f} s, the other "
          f"exited 2 in {loser.seconds:.1f} s with the lock message")
    assert differences(crash_reference.state, state) == {}
    assert checked["tables"]["runs"] == 1


@pytest.mark.parametrize("read_only", [False, True], ids=["writer", "reader"])
def test_connect_to_a_locked_warehouse_names_the_holder(tmp_path: Path, read_only: bool):
    import subprocess
    import sys

    from feedback_pipeline.errors import WarehouseLockedError
    from feedback_pipeline.warehouse import db

    path = tmp_path / "wh.duckdb"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); "
         "print('open', flush=True); time.sleep(60)", str(path)],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "open"
        with pytest.raises(WarehouseLockedError) as caught:
            db.connect(path, read_only=read_only)
    finally:
        holder.kill()
        holder.wait()

    assert caught.value.pid == holder.pid
    assert str(caught.value).startswith(f"the warehouse {path} is in use by process "
                                        f"{holder.pid} (another feedback-pipeline run")
    db.connect(path).close()  # the holder is gone: the lock went with it
