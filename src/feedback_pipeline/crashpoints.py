"""Named crash points: where the crash-safety tests kill (or pause) a run. Off by default.

The library calls ``crashpoint("<name>")`` at every stage boundary and at the commit points inside
ingest, embed and deliver (the names are listed in ``POINTS``). Nothing happens unless one of
these test-only environment variables was set when this module was imported:

``FP_CRASH_AT=<name>[:<n>]``
    SIGKILL this process the ``n``-th time (default: the first) ``<name>`` is reached: no
    ``finally``, no ``atexit``, no flush, exactly like a power cut or the OOM killer.
``FP_PAUSE_AT=<name>[:<n>]`` and ``FP_PAUSE_FILE=<path>``
    At that point create ``<path>.reached`` and wait (the warehouse stays open and locked) until
    ``<path>`` exists, at most ``FP_PAUSE_SECONDS`` (default 120) seconds: two runs at once.
``FP_CRASH_TRACE=<path>``
    Append ``<name>:<n>`` to ``<path>`` for every point reached (an uninterrupted run's trace is
    the list of places a crash can be tried).

With none set (production) ``crashpoint`` is one global check and a return.
"""

from __future__ import annotations

import os
import signal
import time
from collections import Counter
from pathlib import Path

POINTS = {
    "run.started": "the runs row is written, nothing else yet",
    "ingest.batch.fetched": "a batch is fetched from a source, not yet committed",
    "ingest.batch.committed": "a batch's rows, rejections and cursor are committed",
    "ingest.done": "stage boundary",
    "clean.done": "stage boundary",
    "embed.chunk.embedded": "a chunk's vectors are computed, not yet committed",
    "embed.chunk.committed": "a chunk's vectors are committed",
    "embed.done": "stage boundary (types classified too)",
    "cluster.done": "stage boundary",
    "rank.done": "stage boundary",
    "deliver.outbox.recorded": "the outbox rows and files of every delivery are written",
    "jira.create.intent": "a Jira create is recorded as pending, not yet sent",
    "jira.create.sent": "Jira created the issue; the warehouse does not know its key yet",
    "slack.intent": "the digest is recorded as pending, nothing sent",
    "slack.main.sent": "Slack posted the digest; its ts is not stored yet",
    "slack.reply.sent": "Slack posted the thread reply; its ts is not stored yet",
    "deliver.done": "stage boundary",
    "run.finishing": "everything delivered, the run not yet marked completed",
}


def _parse(value: str | None) -> tuple[str, int] | None:
    if not value:
        return None
    name, _, n = value.partition(":")
    return name, int(n or 1)


_CRASH = _parse(os.environ.get("FP_CRASH_AT"))
_PAUSE = _parse(os.environ.get("FP_PAUSE_AT"))
_TRACE = os.environ.get("FP_CRASH_TRACE")
_ACTIVE = bool(_CRASH or _PAUSE or _TRACE)
_hits: Counter[str] = Counter()


def crashpoint(name: str) -> None:
    """Crash, pause or trace here when a test asked for it (see the module docstring)."""
    if not _ACTIVE:
        return
    _hits[name] += 1
    here = (name, _hits[name])
    if _TRACE:
        with open(_TRACE, "a", encoding="utf-8") as fh:
            fh.write(f"{name}:{_hits[name]}\n")
    if here == _PAUSE:
        gate = Path(os.environ["FP_PAUSE_FILE"])
        Path(f"{gate}.reached").write_text(str(os.getpid()), encoding="utf-8")
        deadline = time.monotonic() + float(os.environ.get("FP_PAUSE_SECONDS", "120"))
        while not gate.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
    if here == _CRASH:
        os.kill(os.getpid(), signal.SIGKILL)


__all__ = ["POINTS", "crashpoint"]
