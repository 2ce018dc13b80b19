"""Mutation testing of the modules that carry promises (``make mutate``; not part of CI).

Each target is one module group mutated by mutmut 3 and tested only by its fast unit tests, so a
surviving mutant means those tests miss a change in behaviour. mutmut reads its settings from the
working directory, so every target runs in a scratch directory of its own
(``.mutate/<target>/``, kept between runs) that links the checkout's ``src``, ``tests`` and
``warehouse`` and holds a generated ``setup.cfg``. mutmut re-tests every mutant it is named, so a
run names only the target's mutants not yet tested (mutmut forgets its results when the settings
or the mutated code change): a run stopped by its time budget goes on where it stopped.

    python tools/mutate.py                  # every target
    python tools/mutate.py redact outbox    # some
    python tools/mutate.py --fresh redact   # forget earlier results first
    python tools/mutate.py --list

The kill rate per target is printed at the end (killed / (killed + survived); mutants no test
reaches, segfaults and anything else count as survived, timeouts as killed) and the survivors
are listed with ``mutmut show <name>`` run in the target's directory. Triage: RELIABILITY.md.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from fnmatch import fnmatch
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / ".mutate"
PKG = "src/feedback_pipeline"
FAST = ["-m", "not slow and not reliability"]
# Log calls are not behaviour the promises rest on.
SKIP_PATTERNS = [r"log\.\w+\(", r"logger\.\w+\("]


@dataclass(frozen=True)
class Target:
    name: str
    modules: tuple[str, ...]  # globs under the checkout, as mutmut's only_mutate wants them
    tests: tuple[str, ...]
    # Functions whose mutants are tested (mutmut name globs); empty: all of the modules'.
    functions: tuple[str, ...] = ()


def only(module: str, *functions: str) -> tuple[str, ...]:
    return tuple(f"feedback_pipeline.{module}.{f}__mutmut_*" for f in functions)


# On the shared 2-core machine a mutant costs 1-20 s (it runs every fast test that reaches its
# function), so each target mutates the functions that keep its promise, not error wording,
# rendering or constructors: redaction, rows and cursors committed together, theme ids kept,
# one Jira issue and one Slack digest per key, the outbox files.
TARGETS = [
    Target("redact", (f"{PKG}/redact.py",),
           ("tests/test_redact.py", "tests/test_redact_links_and_logs.py",
            "tests/deliver/test_jira_lineage.py::test_links_lose_personal_data")),
    Target("ingest", (f"{PKG}/ingest/stage.py", f"{PKG}/ingest/connector.py",
                      f"{PKG}/ingest/files.py"),
           ("tests/ingest/test_ingest.py", "tests/ingest/test_incremental_delta.py",
            "tests/ingest/test_batches_and_cursors.py",
            "tests/ingest/test_all_connectors.py"),
           only("ingest.stage", "x_save_batch", "x_get_cursor", "x_ingest", "x__latest_per_key")
           + only("ingest.connector", "x_load_cursor", "x_dump_cursor", "x_to_batch")),
    # Each identity mutant runs up to 15 clustering tests (~20 s).
    Target("identity", (f"{PKG}/cluster/identity.py",),
           ("tests/cluster/test_themes_match.py", "tests/cluster/test_themes_lifecycle.py",
            "tests/cluster/test_theme_resolution.py", "tests/cluster/test_identity_rules.py"),
           only("cluster.identity", "x_match_themes", "x_settle_unexplained", "x_apply_splits",
                "xǁStoredThemesǁresolve")),
    Target("jira", (f"{PKG}/deliver/jira/sink.py", f"{PKG}/deliver/jira/store.py",
                    f"{PKG}/deliver/jira/night.py"),
           ("tests/deliver/test_jira_sync.py", "tests/deliver/test_jira_errors.py",
            "tests/deliver/test_jira_lineage.py", "tests/deliver/test_jira_adopt_many.py"),
           only("deliver.jira.sink", "xǁJiraSinkǁ_unsettled", "xǁJiraSinkǁ_adopt_by_label")
           + only("deliver.jira.store", "x_load_issues", "x_save_issue")
           + only("deliver.jira.night", "xǁJiraNightǁintent", "xǁJiraNightǁsent",
                  "xǁJiraNightǁfailed")),
    Target("slack", (f"{PKG}/deliver/slack/sink.py", f"{PKG}/deliver/slack/state.py"),
           ("tests/deliver/test_slack_sink.py", "tests/deliver/test_slack_digest.py",
            "tests/deliver/test_slack_webhook.py", "tests/deliver/test_slack_update.py",
            "tests/deliver/test_slack_state.py"),
           only("deliver.slack.sink", "xǁSlackDigestSinkǁ_find_posted",
                "xǁSlackDigestSinkǁ_send", "xǁSlackDigestSinkǁ_deliver_webhook")
           + only("deliver.slack.state", "x_load_row", "x_record_intent", "x_record_message",
                  "x_record_outcome")),
    Target("outbox", (f"{PKG}/deliver/outbox.py", f"{PKG}/deliver/dry_run.py"),
           ("tests/deliver/test_outbox_files.py", "tests/deliver/test_outbox_rows.py")),
]


def setup_cfg(target: Target) -> str:
    def lines(values) -> str:
        return "".join(f"\n    {v}" for v in values)

    return (
        "[mutmut]\n"
        "source_paths=src/\n"
        f"only_mutate={lines(target.modules)}\n"
        f"pytest_add_cli_args_test_selection={lines([*target.tests, *FAST])}\n"
        # The warehouse SQL is read from the project root (paths.PROJECT_ROOT), which for the
        # mutated package is the mutants/ directory.
        f"also_copy={lines(['warehouse/'])}\n"
        f"do_not_mutate_patterns={lines(SKIP_PATTERNS)}\n"
        # Workers fork from a server that only imported the tests: forking the process that ran
        # them (numba, torch and BLAS thread pools started) segfaults some workers.
        "process_isolation=forkserver\n"
    )


def prepare(target: Target, fresh: bool) -> Path:
    work = WORK / target.name
    if fresh and work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True, exist_ok=True)
    for name in ("src", "tests", "warehouse", "pyproject.toml"):
        link = work / name
        if not link.exists():
            link.symlink_to(ROOT / name)
    (work / "setup.cfg").write_text(setup_cfg(target), encoding="utf-8")
    return work


def mutmut(work: Path, *args: str, capture: bool = False,
           minutes: float | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    # The checkout's src must not shadow the mutated copy mutmut puts first on sys.path.
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in env.get("PYTHONPATH", "").split(os.pathsep)
        if p and Path(p).resolve() != (ROOT / "src").resolve())
    env.setdefault("HF_HUB_OFFLINE", "1")
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
        env[var] = "1"
    env.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    cmd = [sys.executable, "-m", "mutmut", *args]
    if capture:
        return subprocess.run(cmd, cwd=work, env=env, text=True, capture_output=True)
    # Its own session, so a time budget stops mutmut and every worker it forked; what was
    # tested by then is kept (mutmut resumes there next time).
    proc = subprocess.Popen(cmd, cwd=work, env=env, text=True, start_new_session=True)
    try:
        proc.wait(timeout=minutes * 60 if minutes else None)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait()
        print(f"\n(stopped after the {minutes:g}-minute budget)", flush=True)
        return subprocess.CompletedProcess(cmd, 0)
    return subprocess.CompletedProcess(cmd, proc.returncode)


def results(work: Path, target: Target) -> dict[str, str]:
    """mutant -> status, for the mutants of the target's functions."""
    out = mutmut(work, "results", "--all", "true", capture=True).stdout
    status = {}
    for line in out.splitlines():
        name, sep, state = line.strip().rpartition(": ")
        if sep and "__mutmut_" in name and (
                not target.functions or any(fnmatch(name, f) for f in target.functions)):
            status[name] = state
    return status


def summary(target: Target, status: dict[str, str], seconds: float) -> str:
    counts: dict[str, int] = {}
    for s in status.values():
        counts[s] = counts.get(s, 0) + 1
    untested = counts.pop("not checked", 0)  # out of time
    killed = counts.get("killed", 0) + counts.get("timeout", 0)
    survived = sum(counts.values()) - killed
    rate = f"{100 * killed / (killed + survived):.1f} %" if killed + survived else "n/a"
    detail = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
    return (f"{target.name:9} {rate:>8} killed  ({detail}; {seconds:.0f} s; "
            f"{untested} not tested)")


def main(argv: list[str] | None = None) -> int:
    by_name = {t.name: t for t in TARGETS}
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("targets", nargs="*", metavar="target",
                        help=f"some of: {', '.join(by_name)} (default: all)")
    parser.add_argument("--fresh", action="store_true", help="forget earlier results")
    parser.add_argument("--max-children", type=int, default=1,
                        help="mutants tested in parallel (default 1)")
    parser.add_argument("--minutes", type=float, default=None,
                        help="time budget per target; untested mutants are reported as such")
    parser.add_argument("--report", action="store_true",
                        help="only print the results of earlier runs")
    parser.add_argument("--list", action="store_true", help="print the targets and exit")
    args = parser.parse_args(argv)
    if args.list:
        for t in TARGETS:
            print(f"{t.name}: {' '.join(t.modules)}\n    tests: {' '.join(t.tests)}")
        return 0
    unknown = [n for n in args.targets if n not in by_name]
    if unknown:
        parser.error(f"unknown target(s) {', '.join(unknown)}; choose from {', '.join(by_name)}")
    lines = []
    for target in [by_name[n] for n in args.targets] or TARGETS:
        work = prepare(target, args.fresh)
        print(f"== {target.name}: {', '.join(target.modules)}", flush=True)
        start = time.monotonic()
        if args.report:
            lines.append(summary(target, results(work, target), 0))
            continue
        earlier = results(work, target)
        todo = sorted(n for n, s in earlier.items() if s == "not checked") if earlier \
            else list(target.functions)
        if earlier and not todo:
            print("every mutant already tested (--fresh to test them again)")
            done = subprocess.CompletedProcess([], 0)
        else:
            done = mutmut(work, "run", "--max-children", str(args.max_children), *todo,
                          minutes=args.minutes)
        seconds = time.monotonic() - start
        if done.returncode not in (0, 1):
            print(f"mutmut failed for {target.name} (exit {done.returncode})", file=sys.stderr)
            return done.returncode
        status = results(work, target)
        lines.append(summary(target, status, seconds))
        for name, state in sorted(status.items()):
            if state not in ("killed", "timeout", "not checked"):
                print(f"  {state}: {name}   (cd {work} && mutmut show {name})")
    print("\n".join(["", "kill rate per target:", *lines]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
