"""Secrets: the known fake tokens of a full run (conftest ``SECRETS``) never reach a log line, an
exception, an artifact, the outbox, a sink's payload, the CLI or the warehouse; and the errors
raised when a service rejects a credential name what to fix, never the credential."""

from __future__ import annotations

import base64
import json
import traceback

import pytest
from emulators.github import GitHubEmulator
from emulators.jira import JiraEmulator

from feedback_pipeline.deliver.jira.client import build_client
from feedback_pipeline.deliver.jira.config import JiraConfig
from feedback_pipeline.errors import SinkError, SourceError
from feedback_pipeline.ingest.github.config import GitHubSourceConfig
from feedback_pipeline.ingest.github.fetch import GitHubSource

from .conftest import CORPUS, REPO, SECRET_CORPUS, SECRETS, leaks

pytestmark = pytest.mark.reliability

TOKEN_KEYS = [k for k in SECRETS if k != "FP_JIRA_USER"]  # the user is an e-mail, not a secret


def secret_forms(pii_run) -> list[str]:
    """Every form a credential could leak in: raw, basic-auth base64, as a header value."""
    forms = [SECRETS[k] for k in TOKEN_KEYS]
    forms += [pii_run.extra["jira_basic"], f"Basic {pii_run.extra['jira_basic']}"]
    forms += [f"Bearer {SECRETS[k]}" for k in TOKEN_KEYS]
    # A token cut by a truncated message still gives itself away by its distinctive middle.
    forms += [SECRETS[k][4:-4] for k in TOKEN_KEYS]
    return forms


def full_traceback(exc: BaseException) -> str:
    return "".join(traceback.format_exception(exc))


@pytest.mark.slow
def test_no_secret_in_any_output_of_a_full_run(pii_run):
    outputs = {**pii_run.outputs, "warehouse": pii_run.warehouse_dump}

    found = leaks(secret_forms(pii_run), outputs)

    print(f"\nsecrets: {len(found)} of {len(secret_forms(pii_run))} secret forms leaked; "
          f"{len(outputs)} outputs checked ({sum(map(len, outputs.values())):,} characters, "
          f"{pii_run.outputs['logs'].count(chr(10)) + 1} log lines)")
    assert found == {}
    # The run really used every credential: the sinks delivered and GitHub was read.
    assert pii_run.extra["jira_issues"] >= 4 and pii_run.extra["slack_messages"] >= 2
    assert pii_run.stats["ingest"]["by_source"]["github"]["new"] == 3


@pytest.mark.slow
def test_revoked_token_error_names_source_and_setting_not_the_token(pii_run):
    error = pii_run.stats["ingest"]["by_source"]["github-revoked"]["error"]

    assert "github-revoked" in error and "401" in error
    assert "FP_GITHUB_BAD_TOKEN" in error and "token_env" in error
    assert SECRETS["FP_GITHUB_BAD_TOKEN"] not in error
    assert pii_run.stats["ingest"]["failed_sources"] == ["github-revoked"]
    # The same message reached the log, still without the token.
    assert "github-revoked" in pii_run.outputs["logs"]
    assert SECRETS["FP_GITHUB_BAD_TOKEN"] not in pii_run.outputs["logs"]


def _github_error(emu: GitHubEmulator, monkeypatch, token: str) -> SourceError:
    monkeypatch.setenv("FP_GITHUB_TOKEN", token)
    source = GitHubSource(GitHubSourceConfig(name="gh", base_url=emu.url, repos=[REPO],
                                             max_retries=1, timeout_seconds=5))
    with pytest.raises(SourceError) as info:
        list(source.fetch(None))
    return info.value


def test_connector_401_exception_and_traceback_carry_no_token(monkeypatch):
    token = SECRETS["FP_GITHUB_BAD_TOKEN"]
    with GitHubEmulator(token="the-current-token") as emu:
        exc = _github_error(emu, monkeypatch, token)

    text = full_traceback(exc) + repr(exc)
    assert "source 'gh'" in str(exc) and "HTTP 401" in str(exc)
    assert "FP_GITHUB_TOKEN" in str(exc)
    assert token not in text and f"Bearer {token}" not in text


def test_connector_error_echoing_the_token_is_redacted(monkeypatch):
    # A service (or a proxy) that echoes the credential in its error body.
    token = SECRETS["FP_GITHUB_TOKEN"]
    with GitHubEmulator(token=token) as emu:
        emu.fail(422, {"message": f"Validation failed for Authorization: Bearer {token}"})
        exc = _github_error(emu, monkeypatch, token)

    assert "HTTP 422" in str(exc) and "Bearer ***" in str(exc)
    assert token not in full_traceback(exc)


def test_jira_401_exception_and_traceback_carry_no_token(monkeypatch):
    user, token = SECRETS["FP_JIRA_USER"], SECRETS["FP_JIRA_TOKEN"]
    basic = base64.b64encode(f"{user}:{token}".encode()).decode()
    monkeypatch.setenv("FP_JIRA_USER", user)
    monkeypatch.setenv("FP_JIRA_TOKEN", token)
    with JiraEmulator(cloud=True, auth="Basic bm90OnRoaXM=") as jira:  # expects other credentials
        settings = JiraConfig(enabled=True, server=jira.url, max_retries=0, timeout_seconds=5)
        with pytest.raises(SinkError) as info:
            build_client(settings)
        sent = [r.headers.get("Authorization") for r in jira.requests]

    text = full_traceback(info.value) + repr(info.value)
    assert f"Basic {basic}" in sent  # the credential was really sent, and refused
    assert "401" in str(info.value) and "FP_JIRA_TOKEN" in str(info.value)
    assert token not in text and basic not in text


def seeded_secrets() -> list[str]:
    """The secret values the seeded tickets quote, and their middles (a cut one still leaks)."""
    values = {v for line in SECRET_CORPUS.read_text(encoding="utf-8").splitlines()
              for v in json.loads(line)["secrets"]}
    return sorted(values | {v[4:-4] for v in values if len(v) >= 16})


@pytest.fixture(scope="module")
def report_and_cluster(pii_run, tmp_path_factory) -> dict[str, str]:
    """The outputs the run itself does not write: the HTML report and `cluster --output`."""
    from typer.testing import CliRunner

    from feedback_pipeline.cli import app

    tmp = tmp_path_factory.mktemp("secret-outputs")
    config = str(pii_run.extra["config"])
    texts = tmp / "texts.jsonl"
    texts.write_text(CORPUS.read_text(encoding="utf-8")
                     + SECRET_CORPUS.read_text(encoding="utf-8"), encoding="utf-8")
    runner = CliRunner()
    report = runner.invoke(app, ["report", "--config", config, "--output",
                                 str(tmp / "report.html"), "--limit", "100"])
    clustered = runner.invoke(app, ["cluster", str(texts), "--output", str(tmp / "out.csv"),
                                    "--text-column", "body", "--id-column", "external_id",
                                    "--config", config])
    assert report.exit_code == 0, report.output
    assert clustered.exit_code == 0, clustered.output
    return {"report.html": (tmp / "report.html").read_text(encoding="utf-8"),
            "cli:report": report.output, "cluster --output": (tmp / "out.csv").read_text(
                encoding="utf-8"), "cli:cluster": clustered.output}


@pytest.mark.slow
def test_no_seeded_secret_shape_reaches_any_output(pii_run, report_and_cluster):
    outputs = {**pii_run.outputs, **report_and_cluster}
    needles = seeded_secrets()

    found = leaks(needles, outputs)

    ids = {json.loads(line)["external_id"]
           for line in SECRET_CORPUS.read_text(encoding="utf-8").splitlines()}
    quoted = {q["external_id"] for t in pii_run.ranking for q in json.loads(t["quotes"])} & ids
    print(f"\nsecret shapes: {len(found)} of {len(needles)} seeded secret forms leaked; "
          f"{len(quoted)} of {len(ids)} seeded tickets quoted; {len(outputs)} outputs checked")
    assert found == {}
    # Exercised: the tickets formed a ranked theme whose quotes went out, and every output exists.
    assert len(quoted) >= 3
    assert "Jira integration" in pii_run.outputs["jira:issues"]
    # A header, then one row per text given: every seeded ticket and every PII-corpus record.
    given = len(CORPUS.read_text(encoding="utf-8").splitlines()) + len(ids)
    assert report_and_cluster["cluster --output"].count("\n") == 1 + given
    assert "<article" in report_and_cluster["report.html"]


@pytest.mark.slow
def test_secrets_are_never_keywords_or_titles(pii_run):
    words = " ".join([t["title"] for t in pii_run.ranking]
                     + [k for t in pii_run.ranking for k in t["keywords"] or []])

    assert leaks(seeded_secrets(), {"titles and keywords": words}) == {}
