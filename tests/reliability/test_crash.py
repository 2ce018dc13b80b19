"""Crash safety: SIGKILL ``feedback-pipeline run --live`` at every stage boundary and at random
points inside ingest, embed and deliver, rerun it, and compare the warehouse, the Jira emulator
and the Slack emulator with those of one uninterrupted run (``crash_reference``).

Crashes are chained to keep the suite lean: in a chain every run is killed at its point and the
next run (a plain rerun) must recover from all that came before and reach the next point; one
final run completes. Each chain has its own warehouse and emulators; the chains run side by side.
The random points come from the reference run's trace with a fixed seed (``FP_CRASH_SEED``
changes it; the seed and points are printed).
"""

from __future__ import annotations

import json
import os
import random
import resource
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from feedback_pipeline.crashpoints import POINTS

from .crash_harness import KILLED, Reference, Run, World, differences, figures, integrity

pytestmark = [pytest.mark.reliability, pytest.mark.slow]

SEED = int(os.environ.get("FP_CRASH_SEED", "20261029"))
BOUNDARIES = ["run.started", "ingest.done", "clean.done", "embed.done", "cluster.done",
              "rank.done", "deliver.outbox.recorded", "deliver.done", "run.finishing"]


def random_chains(trace: list[str], seed: int) -> dict[str, list[str]]:
    """Two chains of one random point each in ingest, embed, the Jira sink and the Slack sink.

    Each point's hit number is drawn from what the run that reaches it still has to do: the
    previous crash always falls in an earlier stage, so every later stage is still whole.
    """
    rng = random.Random(seed)
    hits = Counter(p.rsplit(":", 1)[0] for p in trace)

    def pick(*names: str) -> str:
        name = rng.choice(names)
        return f"{name}:{rng.randint(1, hits[name])}"

    ingest = ("ingest.batch.fetched", "ingest.batch.committed")
    embed = ("embed.chunk.embedded", "embed.chunk.committed")
    return {
        "random-a": [pick(*ingest), pick(*embed), pick("jira.create.sent"), "slack.main.sent:1"],
        "random-b": [pick(*ingest), pick(*embed), pick("jira.create.intent"),
                     pick("slack.intent", "slack.reply.sent")],
    }


@dataclass
class Chain:
    name: str
    points: list[str]
    crashes: list[Run]
    shown: list[list[str]]   # the statuses `status` showed after each crash
    final: Run
    state: dict
    integrity: dict
    seconds: float


def run_chain(folder: Path, api_url: str, name: str, points: list[str]) -> Chain:
    started = time.monotonic()
    with World(folder, api_url) as world:
        crashes, shown = [], []
        for point in points:
            crashes.append(world.run("run", crash=point))
            status = world.run("status", "--format", "json", "--limit", "50")
            assert status.returncode == 0, str(status)
            shown.append([r["status"] for r in json.loads(status.stdout)["runs"]])
        final = world.run("run")
        return Chain(name, points, crashes, shown, final, world.snapshot(),
                     integrity(world.warehouse), time.monotonic() - started)


@pytest.fixture(scope="module")
def chains(tmp_path_factory: pytest.TempPathFactory, prefect_api_url: str,
           crash_reference: Reference) -> dict[str, Chain]:
    plans = {"boundaries": BOUNDARIES, **random_chains(crash_reference.trace, SEED)}
    print(f"\ncrash seed {SEED}: " + "; ".join(f"{k}: {' -> '.join(v)}" for k, v in plans.items()))
    root = tmp_path_factory.mktemp("crash-chains")
    cpu = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=len(plans)) as pool:
        futures = {name: pool.submit(run_chain, root / name, prefect_api_url, name, points)
                   for name, points in plans.items()}
        done = {name: f.result() for name, f in futures.items()}
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    print(f"crash chains: {sum(len(c.points) + 1 for c in done.values())} child runs in "
          f"{time.monotonic() - started:.0f} s wall, "
          f"{after.ru_utime + after.ru_stime - cpu.ru_utime - cpu.ru_stime:.0f} s CPU; "
          f"reference run {crash_reference.run.seconds:.0f} s")
    return done


def test_the_reference_run_passes_every_crash_point(crash_reference: Reference):
    reached = {p.rsplit(":", 1)[0] for p in crash_reference.trace}
    hits = Counter(p.rsplit(":", 1)[0] for p in crash_reference.trace)

    assert reached == set(POINTS)
    # Enough commit points inside the stages for "random points" to mean something.
    assert hits["ingest.batch.committed"] >= 8 and hits["embed.chunk.committed"] >= 4
    assert hits["jira.create.sent"] >= 3
    ref = crash_reference.state
    assert len(ref["items"]) >= 90 and len(ref["rejected_items"]) == 2
    assert len(ref["jira"]) == hits["jira.create.sent"]
    assert [len(m) for m in ref["slack"].values()] == [2]  # the digest and its thread reply


@pytest.mark.parametrize("name", ["boundaries", "random-a", "random-b"])
def test_killed_runs_then_a_rerun_end_like_an_uninterrupted_run(
        name: str, chains: dict[str, Chain], crash_reference: Reference):
    chain = chains[name]
    ref = crash_reference.state

    for point, run in zip(chain.points, chain.crashes, strict=True):
        assert run.returncode == KILLED, f"{point} was not reached:\n{run}"
    # However it was killed, `status` never shows a dead run as running.
    for point, shown in zip(chain.points, chain.shown, strict=True):
        assert "running" not in shown and shown[0] == "crashed", (point, shown)
    assert chain.final.returncode == 0, str(chain.final)
    found = figures(ref, chain.state)
    print(f"\n{name}: {len(chain.points)} crashes ({', '.join(chain.points)}), then a rerun; "
          f"{found}; {chain.seconds:.0f} s")
    assert differences(ref, chain.state) == {}
    assert found == dict.fromkeys(found, 0)
    # The file survived every SIGKILL: it checkpoints and every table reads back.
    assert chain.integrity["tables"]["items"] == len(ref["items"])
