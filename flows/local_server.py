"""Prefect's temporary server for a run without ``PREFECT_API_URL``, never left behind.

Without a server to talk to, Prefect starts one for the run (``prefect.server.api.server.
SubprocessASGIServer``: a uvicorn child process) and stops it from ``atexit``. A SIGKILLed run
(OOM killer, ``kill -9``) runs no ``atexit``, and the server would live on, orphaned, holding its
port and SQLite file. :func:`temporary_server` starts that same server first (Prefect reuses it:
one instance per process) and pairs it with a watchdog process that stops it as soon as this
process is gone, however it went.

What it cannot cover: a SIGKILL of the watchdog itself together with this process but not the
server (kill the process group instead: ``kill -9 -<pgid>``, as systemd and terminals do). Flow
runs started by a worker or by ``serve`` talk to a real server and start none of this; a SIGKILL
of the *worker* leaves its flow-run subprocesses running (they finish or crash on their own, and
the server marks them Crashed when their heartbeats stop); see "Running it in production" in the
README.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import subprocess
import sys

MIN_STARTUP_SECONDS = 120

# Runs in a bare interpreter (-I -S: no site, starts in ~20 ms); polls for being reparented.
_WATCHDOG = """
import os, signal, sys, time
parent, server = int(sys.argv[1]), int(sys.argv[2])
while os.getppid() == parent:
    time.sleep(0.5)
try:
    os.kill(server, signal.SIGTERM)
    for _ in range(50):
        time.sleep(0.1)
        os.kill(server, 0)
    os.kill(server, signal.SIGKILL)
except ProcessLookupError:
    pass
"""


def _stop(watchdog: subprocess.Popen) -> None:
    # Normal exit: Prefect's own atexit stops the server; the watchdog must not outlive us.
    with contextlib.suppress(ProcessLookupError):
        watchdog.kill()
    watchdog.wait()


def temporary_server() -> int | None:
    """Start Prefect's temporary server with a watchdog when no ``PREFECT_API_URL`` is set.

    Returns the server's process id, or None when a server is configured (nothing started).
    Idempotent: the server and its watchdog are started once per process.
    """
    from prefect.server.api.server import SubprocessASGIServer
    from prefect.settings import PREFECT_API_URL, PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS

    if PREFECT_API_URL.value():
        return None
    server = SubprocessASGIServer()
    if server.running and server.server_process is not None:
        return server.server_process.pid
    # Prefect's default wait (20 s) is too short on a busy machine; prefect.toml raises it, but
    # only where it is read (the working directory).
    server.start(timeout=max(MIN_STARTUP_SECONDS,
                             PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS.value()))
    assert server.server_process is not None
    pid = server.server_process.pid
    watchdog = subprocess.Popen([sys.executable, "-I", "-S", "-c", _WATCHDOG, str(os.getpid()),
                                 str(pid)], stdin=subprocess.DEVNULL, close_fds=True)
    atexit.register(_stop, watchdog)  # after Prefect's atexit(stop), so it runs before it
    return pid


__all__ = ["temporary_server"]
