"""A world to crash runs in: live Jira, Slack and GitHub emulators in the test process, a config
pointing the real sinks and a connector at them, and ``feedback-pipeline run --live`` started as
child processes (``crash_runner.py``) that can be SIGKILLed at a named crash point.

The emulators live in the pytest process, so what the killed run sent survives for its rerun;
each world has its own warehouse, outbox and emulators. ``snapshot`` reads everything a run leaves
behind, minus what legitimately differs between runs (run ids, timestamps, Slack ts values), so
two snapshots compare with ``==``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest
from emulators.github import GitHubEmulator
from emulators.jira import JiraEmulator
from emulators.slack import SlackEmulator

HERE = Path(__file__).resolve().parent
RUNNER = HERE / "crash_runner.py"
CORPUS = HERE / "data" / "pii_corpus.jsonl"
REPO = "acme/app"
SECRETS = {
    "FP_JIRA_USER": "pm-bot@example.com",
    "FP_JIRA_TOKEN": "jira-crash-test-token",
    "FP_SLACK_TOKEN": "xoxb-crash-test-token",
    "FP_GITHUB_TOKEN": "ghp_crashTEST",
    "FP_AUTHOR_SALT": "crash-salt",
}
GITHUB_ISSUES = [
    ("CSV export times out on large reports", "The CSV export of big reports times out.", "ann"),
    ("CSV export timeout for large report", "Large CSV exports time out after 30 s.", "ben"),
    ("Export to CSV times out", "Exporting large reports as CSV times out every time.", "chris"),
    ("Dark mode for the dashboard", "Please add a dark mode, the dashboard is too bright.", "dee"),
]
BAD_LINES = ['{"external_id": "broken-1", "title": "not json', '{"external_id": "no-date-1", '
             '"kind": "community_post", "author": "x", "title": "t", "body": "a body here"}']
AS_OF = "2026-10-29T00:00:00Z"
BATCH, CHUNK = 10, 16  # records per file-source batch, texts per embedding chunk (crash_runner)
# PCA by default: UMAP's JIT compilation costs ~16 s CPU in every child process that clusters,
# which would double the suite. FP_CRASH_REDUCER=umap runs it all with the production default.
REDUCER = os.environ.get("FP_CRASH_REDUCER", "pca")
KILLED = -signal.SIGKILL


def _write_corpus(folder: Path) -> tuple[Path, Path]:
    """The PII corpus as two file sources (community, desk), plus two records ingest rejects."""
    community, desk = [], []
    for line in CORPUS.read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        for extra in ("pii", "theme", "language"):
            record.pop(extra)
        (desk if record["source"] == "helpdesk" else community).append(json.dumps(record))
    a, b = folder / "community.jsonl", folder / "desk.jsonl"
    a.write_text("\n".join(community + BAD_LINES[:1]) + "\n", encoding="utf-8")
    b.write_text("\n".join(desk + BAD_LINES[1:]) + "\n", encoding="utf-8")
    return a, b


@dataclass
class Run:
    args: list[str]
    returncode: int
    stdout: str
    stderr: str
    seconds: float

    @property
    def killed(self) -> bool:
        return self.returncode == KILLED

    def __str__(self) -> str:
        return (f"{' '.join(self.args)} -> {self.returncode} in {self.seconds:.1f}s\n"
                f"stdout:\n{self.stdout[-3000:]}\nstderr:\n{self.stderr[-6000:]}")


@dataclass
class World:
    """One warehouse + outbox + Jira/Slack/GitHub emulators; start it with ``with``."""

    folder: Path
    prefect_api_url: str
    jira: JiraEmulator = field(init=False)
    slack: SlackEmulator = field(init=False)
    github: GitHubEmulator = field(init=False)
    runs: list[Run] = field(default_factory=list)

    def __enter__(self) -> World:
        self.folder.mkdir(parents=True, exist_ok=True)
        self.jira = JiraEmulator(cloud=True).__enter__()
        self.slack = SlackEmulator(token=SECRETS["FP_SLACK_TOKEN"]).__enter__()
        self.github = GitHubEmulator(token=SECRETS["FP_GITHUB_TOKEN"]).__enter__()
        self.github.clock.now = datetime(2026, 10, 20, tzinfo=UTC)
        for n, (title, body, login) in enumerate(GITHUB_ISSUES, 1):
            self.github.add_issue(REPO, n, title, body, user=login)
        community, desk = _write_corpus(self.folder)
        self.config.write_text(f"""
warehouse = "{self.warehouse}"

[[sources]]
name = "community"
path = "{community}"

[[sources]]
name = "desk"
path = "{desk}"

[[sources]]
type = "github"
name = "github"
base_url = "{self.github.url}"
repos = ["{REPO}"]
token_env = "FP_GITHUB_TOKEN"
page_size = 1
max_retries = 1
max_retry_wait_seconds = 1

[cluster]
reducer = "{REDUCER}"

[rank]
min_authors = 3
as_of = "{AS_OF}"

[deliver]
dry_run = false
outbox = "{self.outbox}"

[deliver.jira]
enabled = true
server = "{self.jira.url}"
project = "FB"
max_retries = 0
timeout_seconds = 10
top_n = 20

[deliver.slack]
enabled = true
channel = "#community-feedback"
base_url = "{self.slack.base_url}"
max_retries = 1
timeout_seconds = 10
""", encoding="utf-8")
        return self

    def __exit__(self, *exc: object) -> None:
        for emulator in (self.jira, self.slack, self.github):
            emulator.__exit__(None, None, None)

    @property
    def config(self) -> Path:
        return self.folder / "config.toml"

    @property
    def warehouse(self) -> Path:
        return self.folder / "wh.duckdb"

    @property
    def outbox(self) -> Path:
        return self.folder / "outbox"

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("FP_CRASH", "FP_PAUSE", "PYTEST_"))}
        env.update(SECRETS)
        env.update(PREFECT_API_URL=self.prefect_api_url, PREFECT_SERVER_ANALYTICS_ENABLED="false",
                   PREFECT_LOGGING_TO_API_ENABLED="false", HF_HUB_OFFLINE="1",
                   TRANSFORMERS_OFFLINE="1", TOKENIZERS_PARALLELISM="false",
                   FP_TEST_BATCH=str(BATCH), FP_TEST_CHUNK=str(CHUNK))
        env.update(extra)
        return env

    def command(self, *args: str) -> list[str]:
        cmd = args[0]
        rest = ["--config", str(self.config), *args[1:]]
        if cmd == "run":
            rest.append("--live")
        return [sys.executable, str(RUNNER), cmd, *rest]

    def start(self, *args: str, **env: str) -> subprocess.Popen:
        return subprocess.Popen(self.command(*args), env=self.env(**env), cwd=self.folder,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def finish(self, proc: subprocess.Popen, args: tuple[str, ...], started: float,
               timeout: float = 300) -> Run:
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
        run = Run([*args], proc.returncode, out, err, time.monotonic() - started)
        self.runs.append(run)
        return run

    def run(self, *args: str, crash: str | None = None, **env: str) -> Run:
        """``feedback-pipeline <args>`` in a child process; ``crash``: a ``FP_CRASH_AT`` value."""
        if crash:
            env["FP_CRASH_AT"] = crash
        started = time.monotonic()
        return self.finish(self.start(*args, **env), args, started)

    def snapshot(self) -> dict:
        """Everything the runs left, with this world's emulator URLs and folder made generic."""
        state = {**warehouse_state(self.warehouse), **emulator_state(self.jira, self.slack),
                 "outbox files": {str(p.relative_to(self.outbox)): p.read_text(encoding="utf-8")
                                  for p in sorted(self.outbox.rglob("*")) if p.is_file()}}
        text = json.dumps(state, default=str, sort_keys=True)
        for local, generic in ((self.jira.url, "<jira>"), (self.slack.base_url, "<slack>"),
                               (self.github.url, "<github>"), (str(self.folder), "<world>")):
            text = text.replace(local, generic)
        return json.loads(text)


def _rows(con: duckdb.DuckDBPyConnection, sql: str) -> list[tuple]:
    return sorted(con.execute(sql).fetchall(), key=repr)


def warehouse_state(path: Path) -> dict:
    """Every table a run fills, without run ids and timestamps (which differ between runs)."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        completed = con.execute("SELECT run_id FROM runs WHERE status = 'completed' "
                                "ORDER BY started_at DESC LIMIT 1").fetchone()
        last = completed[0] if completed else ""
        return {
            "items": _rows(con, "SELECT source, external_id, kind, url, author_hash, author_is_bot,"
                           " title, body, tags, votes, created_at, updated_at, deleted, "
                           "content_hash, clean_text, clean_hash, text_hash, drop_reason, "
                           "item_type, language FROM items"),
            "rejected_items": _rows(con, "SELECT source, raw_hash, position, external_id, reason "
                                    "FROM rejected_items"),
            "source_cursors": _rows(con, "SELECT source, cursor FROM source_cursors"),
            "embeddings": _rows(con, "SELECT text_hash, model, md5(vector::VARCHAR) "
                                "FROM embeddings"),
            "themes": _rows(con, "SELECT theme_id, title, keywords, quotes::VARCHAR, size, status,"
                            " merged_into, first_seen, last_seen FROM themes"),
            "item_themes": _rows(con, "SELECT source, external_id, theme_id, method "
                                 "FROM item_themes"),
            "theme_events": _rows(con, "SELECT theme_id, event, other_theme, detail "
                                  "FROM theme_events"),
            "ranking": _rows(con, f"SELECT * EXCLUDE (run_id) FROM theme_scores "
                             f"WHERE run_id = '{last}'"),
            "trends": _rows(con, f"SELECT * EXCLUDE (run_id) FROM theme_trends "
                            f"WHERE run_id = '{last}'"),
            "deliveries": _rows(con, "SELECT delivery_key, sink, theme_id, status, error, "
                                "external_ref IS NOT NULL FROM deliveries"),
            "jira_issues": _rows(con, "SELECT theme_id, issue_key, last_summary, jira_state, "
                                 "project FROM jira_issues"),
            # (main_hash covers the Jira links, whose server URL differs per world: the
            # messages themselves are compared in the Slack emulator.)
            "slack_digests": _rows(con, "SELECT digest_key, status, channel_id, ts IS NOT NULL, "
                                   "reply_ts IS NOT NULL, reply_hash, error FROM slack_digests"),
            "completed runs": con.execute("SELECT count(*) FROM runs WHERE status = 'completed'"
                                          ).fetchone()[0],
        }
    finally:
        con.close()


def emulator_state(jira: JiraEmulator, slack: SlackEmulator) -> dict:
    """What Jira and Slack hold now (content only: keys of issues, not Slack's ts values)."""
    issues = {}
    for key, issue in sorted(jira.state.issues.items()):
        f = issue["fields"]
        issues[key] = {"summary": f.get("summary"), "description": f.get("description"),
                       "labels": sorted(f.get("labels") or []),
                       "priority": (f.get("priority") or {}).get("name"),
                       "status": (f.get("status") or {}).get("name"),
                       "comments": [c.get("body") for c in jira.state.comments.get(key, [])],
                       "remote links": sorted(json.dumps(r, sort_keys=True, default=str)
                                              for r in jira.state.remotelinks.get(key, []))}
    channels = {}
    for channel, messages in sorted(slack.messages.items()):
        ordered = sorted(messages, key=lambda m: float(m["ts"]))
        index = {m["ts"]: n for n, m in enumerate(ordered)}
        channels[channel] = [{"text": m["text"], "blocks": m.get("blocks"),
                              "metadata": m.get("metadata"),
                              "reply to": index.get(m.get("thread_ts", ""))} for m in ordered]
    return {"jira": issues, "slack": channels}


def figures(reference: dict, state: dict) -> dict:
    """Records lost and duplicated against the uninterrupted run, and duplicate deliveries."""
    def keys(rows: list, n: int = 2) -> Counter:
        return Counter(tuple(r[:n]) for r in rows)

    def content(rows: list) -> Counter:
        return Counter((r[0], r[13]) for r in rows)  # source, content_hash

    ref_items, items = keys(reference["items"]), keys(state["items"])
    labels = Counter(lb for i in state["jira"].values() for lb in i["labels"]
                     if lb.startswith("feedback-theme-"))
    parts = Counter(json.dumps((m["metadata"] or {}).get("event_payload"), sort_keys=True)
                    for msgs in state["slack"].values() for m in msgs)
    return {
        "records lost": sum((ref_items - items).values()),
        # (source, external_id) is the items table's key, so a record cannot be stored twice
        # under it: a duplicate is the same content stored again under another id.
        "records duplicated": sum((content(state["items"]) - content(reference["items"]))
                                  .values()),
        "embeddings lost": sum((keys(reference["embeddings"]) - keys(state["embeddings"]))
                               .values()),
        "jira duplicates": sum(n - 1 for n in labels.values() if n > 1)
        + max(0, len(state["jira"]) - len(reference["jira"])),
        "slack duplicates": sum(n - 1 for n in parts.values() if n > 1)
        + max(0, sum(map(len, state["slack"].values()))
              - sum(map(len, reference["slack"].values()))),
    }


def differences(reference: dict, state: dict) -> dict:
    """Per part that differs: (in the reference only, in this state only), for the message."""
    out = {}
    for name in reference:
        a, b = reference[name], state.get(name)
        if a == b:
            continue
        if isinstance(a, list) and isinstance(b, list):
            sa, sb = {repr(x) for x in a}, {repr(x) for x in b}
            out[name] = (sorted(sa - sb)[:5], sorted(sb - sa)[:5], len(a), len(b))
        elif isinstance(a, dict) and isinstance(b, dict):
            out[name] = {k: (a.get(k), b.get(k)) for k in sorted(set(a) | set(b))
                         if a.get(k) != b.get(k)}
        else:
            out[name] = (a, b)
    return out


def integrity(path: Path) -> dict:
    """Open the file read-write, checkpoint it, and read every table: a corrupt file fails here."""
    con = duckdb.connect(str(path))
    try:
        con.execute("CHECKPOINT")
        tables = [r[0] for r in con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main' "
            "AND table_type = 'BASE TABLE'").fetchall()]
        counts = {t: con.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in tables}
        size = con.execute("PRAGMA database_size").fetchone()
        return {"tables": counts, "database_size": size}
    finally:
        con.close()


def read_trace(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").split() if path.exists() else []




@dataclass
class Reference:
    state: dict          # World.snapshot() after one uninterrupted run
    trace: list[str]     # every crash point it passed, in order ("name:n")
    run: Run


@pytest.fixture(scope="session")
def prefect_api_url(prefect_harness) -> str:
    """The session's temporary Prefect server, shared with the child processes."""
    from prefect.settings import PREFECT_API_URL

    return str(PREFECT_API_URL.value())


@pytest.fixture(scope="session")
def crash_reference(tmp_path_factory: pytest.TempPathFactory, prefect_api_url: str) -> Reference:
    """One uninterrupted ``feedback-pipeline run --live``: the state every crashed world must
    end in, and the trace of crash points it passed."""
    folder = tmp_path_factory.mktemp("crash") / "reference"
    with World(folder, prefect_api_url) as world:
        trace = folder / "trace.txt"
        run = world.run("run", FP_CRASH_TRACE=str(trace))
        assert run.returncode == 0, str(run)
        return Reference(world.snapshot(), read_trace(trace), run)


__all__ = ["AS_OF", "KILLED", "Reference", "Run", "World", "crash_reference", "differences",
           "emulator_state", "figures", "integrity", "prefect_api_url", "read_trace",
           "warehouse_state"]
