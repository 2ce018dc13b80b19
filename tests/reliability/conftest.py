"""Fixtures of the reliability suite: one full pipeline run over the PII corpus with live Jira and
Slack emulators, a GitHub connector and known fake secrets; everything it emitted, as text.

``pii_run`` runs once per session and is shared by ``test_pii_gate.py`` and ``test_secrets.py``.
"""

from __future__ import annotations

import base64
import html
import json
import logging
import os
import re
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from emulators.github import GitHubEmulator
from emulators.jira import JiraEmulator
from emulators.slack import SlackEmulator

# The crash and concurrency suites share one uninterrupted reference run (crash_harness.py).
from .crash_harness import crash_reference, prefect_api_url  # noqa: E402, F401

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

HERE = Path(__file__).resolve().parent
CORPUS = HERE / "data" / "pii_corpus.jsonl"
# Tickets quoting secrets of every shape of issue #19 (their values in each record's "secrets").
SECRET_CORPUS = HERE / "data" / "secret_corpus.jsonl"

# Known fake secrets: none may appear in any output of a run.
SECRETS = {
    "FP_JIRA_USER": "pm-bot@example.com",
    "FP_JIRA_TOKEN": "jira-FAKE-9d41c7e2b8a64f0f",
    "FP_SLACK_TOKEN": "xoxb-000111222-333444555-FAKEslackTOKEN42",
    "FP_GITHUB_TOKEN": "ghp_FAKEgithubTOKEN0123456789abcdefABCD",
    "FP_GITHUB_BAD_TOKEN": "ghp_FAKErevokedTOKEN9876543210zyxwvuQRST",
    "FP_AUTHOR_SALT": "salt-FAKE-5c0ffee5c0ffee",
}
REPO = "acme/app"
GITHUB_ISSUES = [
    ("CSV export times out on large reports", "The CSV export of big reports times out. "
     "Ping me at octo.cat@github-user.example or +1 (206) 555-0143.", "octo-anna"),
    ("CSV export timeout for large report", "Large CSV exports time out after 30 seconds, "
     "card 4917 6100 0000 0000 was charged anyway.", "octo-ben"),
    ("Export to CSV times out", "Exporting large reports as CSV times out; our egress IP is "
     "198.18.0.77, contact @octo-chris.", "octo-chris"),
]
GITHUB_PII = ["octo.cat@github-user.example", "+1 (206) 555-0143", "4917 6100 0000 0000",
              "198.18.0.77", "@octo-chris"]
EXTRA_PATTERN = r"ACME-\d{4}"


def corpus() -> list[dict]:
    return [json.loads(line) for line in CORPUS.read_text(encoding="utf-8").splitlines()]


def seeded_pii(records: list[dict]) -> list[str]:
    """Every distinct seeded PII string: the values, the authors' handles, the GitHub ones."""
    values = {p["value"] for r in records for p in r["pii"]}
    values |= {r["author"] for r in records}
    values |= set(GITHUB_PII) | {login for *_, login in GITHUB_ISSUES}
    return sorted(values)


_WIKI_ESCAPED = re.compile(r"\\([{}\[\]|*_!#\-])")


def normalise(text: str) -> str:
    """Undo the sinks' escaping (wiki markup, mrkdwn entities, JSON) so a leak cannot hide."""
    text = html.unescape(_WIKI_ESCAPED.sub(r"\1", text))
    return " ".join(unicodedata.normalize("NFKC", text).split())


def leaks(needles: Iterable[str], haystacks: dict[str, str]) -> dict[str, list[str]]:
    """needle -> names of the outputs containing it (raw or normalised)."""
    normalised = {name: normalise(text) for name, text in haystacks.items()}
    found: dict[str, list[str]] = {}
    for needle in needles:
        forms = {needle, normalise(needle)}
        where = [name for name, text in haystacks.items()
                 if any(f in text or f in normalised[name] for f in forms)]
        if where:
            found[needle] = where
    return found


def fragments(needles: Iterable[str], records: list[dict]) -> dict[str, str]:
    """Pieces of seeded strings that give them away: fragment -> the seeded string.

    Every word of 5+ letters or digits in a seeded string that is no ordinary word (it occurs
    neither in the corpus with every seeded string taken out nor in the README), and the digits
    of every seeded string with 7 or more of them, at least 3 different: a mail's local part, a
    host, a card's or an IBAN's digits, a phone number spaced otherwise. Of a URL only the query
    values count (its host and parameter names are the service's, not the person's).
    """
    needles = list(needles)
    background = " ".join(f"{r['title']} {r['body']}" for r in records)
    for needle in sorted(needles, key=len, reverse=True):
        background = background.replace(needle, " ")
    background += (HERE.parents[1] / "README.md").read_text(encoding="utf-8")
    ordinary = set(_WORD.findall(normalise(background).casefold()))
    urls = {p["value"] for r in records for p in r["pii"] if p["kind"] == "url"}
    found: dict[str, str] = {}
    for needle in needles:
        text = needle
        if needle in urls:
            text = " ".join(v for vs in parse_qs(urlsplit(needle).query).values() for v in vs)
        for word in _WORD.findall(normalise(text).casefold()):
            if word not in ordinary:
                found.setdefault(word, needle)
        digits = re.sub(r"\D", "", text)
        if len(digits) >= 7 and len(set(digits)) >= 3:
            found.setdefault(digits, needle)
    return found


_WORD = re.compile(r"[^\W_]{5,}")
_DIGIT_GAP = re.compile(r"(?<=\d)[\s\-().+/]+(?=\d)")


def partial_leaks(pieces: dict[str, str], haystacks: dict[str, str]) -> dict[str, list[str]]:
    """fragment (and the seeded string it is from) -> names of the outputs containing it, as a
    whole word, or as a run of digits however they are spaced."""
    found: dict[str, list[str]] = {}
    for name, text in haystacks.items():
        words = set(_WORD.findall(normalise(text).casefold()))
        digits = _DIGIT_GAP.sub("", normalise(text))
        for piece, needle in pieces.items():
            if piece in words or (piece.isdigit() and piece in digits):
                found.setdefault(f"{piece} (of {needle})", []).append(name)
    return found


class Capture(logging.Handler):
    """Every log record of the run at DEBUG, formatted with its traceback."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@dataclass
class RunOutputs:
    outputs: dict[str, str]                    # every sink output, by name
    warehouse_dump: str                        # every warehouse table as text (secrets check)
    ranking: list[dict]
    themes: list[tuple]                        # (theme_id, title, authors) of every theme
    stats: dict
    exposed_records: int                       # corpus records whose text reached a quote
    extra: dict = field(default_factory=dict)


def _dump(obj: object) -> str:
    return json.dumps(obj, ensure_ascii=False, default=str, sort_keys=True)


def emulator_outputs(jira: JiraEmulator, slack: SlackEmulator) -> dict[str, str]:
    """What the sinks sent and what the services stored (request headers left out: the
    credential belongs there)."""
    st = jira.state
    return {
        "jira:issues": _dump(st.issues),
        "jira:comments": _dump(st.comments),
        "jira:remotelinks": _dump(st.remotelinks),
        "jira:requests": _dump([(r.method, r.path, r.query, r.body) for r in jira.requests]),
        "slack:messages": _dump(dict(slack.messages)),
        "slack:requests": _dump([(r.method, r.path, r.params) for r in slack.requests]),
    }


def outbox_outputs(*folders: Path) -> dict[str, str]:
    return {f"outbox:{p.relative_to(folder.parent)}": p.read_text(encoding="utf-8")
            for folder in folders if folder.exists()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def warehouse_text(path: Path) -> str:
    import duckdb

    con = duckdb.connect(str(path), read_only=True)
    try:
        tables = [r[0] for r in con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main'").fetchall()]
        return "\n".join(f"{t}: {_dump(con.execute(f'SELECT * FROM {t}').fetchall())}"
                         for t in tables)
    finally:
        con.close()


def _config(tmp: Path, jira: JiraEmulator, slack: SlackEmulator, gh: GitHubEmulator,
            gh_bad: GitHubEmulator) -> Path:
    config = tmp / "config.toml"
    config.write_text(f"""
warehouse = "{tmp / 'wh.duckdb'}"

[[sources]]
name = "corpus"
path = "{CORPUS}"

[[sources]]
name = "secrets"
path = "{SECRET_CORPUS}"

[[sources]]
type = "github"
name = "github"
base_url = "{gh.url}"
repos = ["{REPO}"]
token_env = "FP_GITHUB_TOKEN"
max_retries = 2
max_retry_wait_seconds = 1

[[sources]]
type = "github"
name = "github-revoked"
base_url = "{gh_bad.url}"
repos = ["{REPO}"]
token_env = "FP_GITHUB_BAD_TOKEN"
max_retries = 1

[rank]
min_authors = 3

[pulse]
unanswered_days = 100000  # the emulated GitHub issues are from 2024: list them all

[redact]
extra_patterns = ['{EXTRA_PATTERN}']

[deliver]
dry_run = false
outbox = "{tmp / 'outbox'}"

[deliver.jira]
enabled = true
server = "{jira.url}"
project = "FB"
max_retries = 0
timeout_seconds = 5
top_n = 20

[deliver.slack]
enabled = true
channel = "#community-feedback"
base_url = "{slack.base_url}"
max_retries = 1
timeout_seconds = 5
""", encoding="utf-8")
    return config


@pytest.fixture(scope="session")
def pii_run(tmp_path_factory: pytest.TempPathFactory, embedder) -> Iterator[RunOutputs]:
    """The full pipeline (stages of ``feedback_pipeline.pipeline``) over the PII corpus plus a
    GitHub source, delivering live to the Jira and Slack emulators and to the dry-run outbox;
    then the CLI's ``themes`` views and the Prefect artifact's markdown."""
    from typer.testing import CliRunner

    from feedback_pipeline import pipeline
    from feedback_pipeline.cli import app
    from feedback_pipeline.config import load_settings
    from feedback_pipeline.deliver.dry_run import OutboxFiles
    from feedback_pipeline.errors import SinkError
    from feedback_pipeline.report.status import run_summary_markdown
    from feedback_pipeline.report.terminal import ranking_markdown
    from feedback_pipeline.warehouse import db
    from feedback_pipeline.warehouse.runs import open_run

    tmp = tmp_path_factory.mktemp("pii")
    basic = base64.b64encode(
        f"{SECRETS['FP_JIRA_USER']}:{SECRETS['FP_JIRA_TOKEN']}".encode()).decode()
    with pytest.MonkeyPatch.context() as mp, \
            JiraEmulator(cloud=True, auth=f"Basic {basic}") as jira, \
            SlackEmulator(token=SECRETS["FP_SLACK_TOKEN"]) as slack, \
            GitHubEmulator(token=SECRETS["FP_GITHUB_TOKEN"]) as gh, \
            GitHubEmulator(token="the-current-token") as gh_bad:
        for name, value in SECRETS.items():
            mp.setenv(name, value)
        gh_bad.issues[REPO] = {}
        for n, (title, body, login) in enumerate(GITHUB_ISSUES, 1):
            gh.add_issue(REPO, n, title, body, user=login)
        config = _config(tmp, jira, slack, gh, gh_bad)
        settings = load_settings(config)

        capture = Capture()
        root = logging.getLogger()
        old_level = root.level
        root.addHandler(capture)
        root.setLevel(logging.DEBUG)
        for noisy in ("numba", "matplotlib", "PIL", "filelock"):  # JIT chatter, not our output
            logging.getLogger(noisy).setLevel(logging.WARNING)
        errors: list[str] = []
        try:
            con = db.connect(settings.warehouse)
            with open_run(con, as_of=settings.rank.as_of) as run:
                stats = run.stats
                stats["ingest"] = pipeline.stage_ingest(run, settings)
                stats["clean"] = pipeline.stage_clean(run, settings)
                stats["embed"] = pipeline.stage_embed(run, settings)
                stats["cluster"] = pipeline.stage_cluster(run, settings, full=True)
                ranking = pipeline.stage_rank(run, settings)
                try:
                    stats["deliver"] = pipeline.stage_deliver(run, settings, ranking)
                except SinkError as exc:  # would fail the test below, with its message
                    errors.append(str(exc))
                dry = settings.deliver.model_copy(update={"outbox": tmp / "outbox-dry"})
                stats["dry_run"] = OutboxFiles(dry).deliver(run, ranking)
                markdown = ranking_markdown(ranking)
                logging.getLogger("prefect.task_runs").info("artifact:\n%s", markdown)
            themes = con.execute(
                "SELECT t.theme_id, t.title, count(DISTINCT i.author_hash) FROM themes t "
                "JOIN item_themes m USING (theme_id) JOIN items i USING (source, external_id) "
                "GROUP BY ALL ORDER BY 1").fetchall()
            quoted = {q["external_id"] for t in ranking for q in json.loads(t["quotes"])}
            con.close()
        finally:
            root.removeHandler(capture)
            root.setLevel(old_level)

        runner = CliRunner()
        cli: dict[str, str] = {}
        for fmt in ("table", "json", "csv"):
            result = runner.invoke(app, ["themes", "--config", str(config), "--format", fmt,
                                         "--limit", "100"])
            cli[f"cli:themes --format {fmt}"] = result.output
        for t in ranking:
            result = runner.invoke(app, ["themes", "show", str(t["theme_id"]), "--config",
                                         str(config)])
            cli[f"cli:themes show {t['theme_id']}"] = result.output
        html_report = tmp / "report.html"
        result = runner.invoke(app, ["report", "--config", str(config), "--output",
                                     str(html_report), "--limit", "100"])
        cli["cli:report"] = result.output
        for fmt in ("table", "json"):  # search shows any item, quoted or not: here all of them
            result = runner.invoke(app, ["search", "the export fails", "--config", str(config),
                                         "--format", fmt, "--limit", "100000"])
            cli[f"cli:search --format {fmt}"] = result.output
        for fmt in ("table", "json"):  # the threads waiting for an answer, by title
            result = runner.invoke(app, ["pulse", "--config", str(config), "--week",
                                         "--format", fmt])
            cli[f"cli:pulse --format {fmt}"] = result.output
        outputs = {
            **emulator_outputs(jira, slack),
            "report:html": html_report.read_text(encoding="utf-8") if html_report.exists() else "",
            # The flow's run-summary artifact, made by the function the flow calls.
            "artifact:run-summary": run_summary_markdown(run.run_id, stats),
            **outbox_outputs(tmp / "outbox", tmp / "outbox-dry"),
            **cli,
            "artifact:ranked-themes": markdown,
            "logs": "\n".join(capture.lines),
        }
        yield RunOutputs(
            outputs=outputs, warehouse_dump=warehouse_text(settings.warehouse), ranking=ranking,
            themes=themes, stats=stats,
            exposed_records=len(quoted & {r["external_id"] for r in corpus()}),
            extra={"errors": errors, "jira_issues": len(jira.state.issues),
                   "quoted_languages": sorted({r["language"] for r in corpus()
                                               if r["external_id"] in quoted}),
                   "slack_messages": len(slack.messages.get("C0FEEDBACK", [])),
                   "jira_basic": basic, "config": config},
        )
