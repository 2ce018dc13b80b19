"""Fixtures for the deployment and failure-alert tests: a Slack emulator and tiny configs."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from emulators.slack import SlackEmulator

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "demo" / "feedback_demo.jsonl"
ALERT_TOKEN = "xoxb-999-888-alerttoken"


@pytest.fixture
def slack_alerts(monkeypatch: pytest.MonkeyPatch) -> Iterator[SlackEmulator]:
    """A Slack workspace with a #data-alerts channel; the bot token is in FP_SLACK_TOKEN."""
    monkeypatch.setenv("FP_SLACK_TOKEN", ALERT_TOKEN)
    with SlackEmulator(token=ALERT_TOKEN) as emu:
        emu.add_channel("C0ALERTS", "data-alerts")
        yield emu


def tiny_records(n_per_intent: int = 20, intents: int = 2) -> list[dict]:
    """``intents`` support-ticket intents of the demo set, ``n_per_intent`` tickets each."""
    records = [json.loads(line) for line in DEMO.read_text(encoding="utf-8").splitlines()]
    # Tickets of one intent are consecutive ids in the demo builder (40 per intent).
    keep = {str(1001 + 40 * k + j) for k in range(intents) for j in range(n_per_intent)}
    return [r for r in records if r["kind"] == "support_ticket" and r["external_id"] in keep]


@pytest.fixture
def write_config(tmp_path: Path) -> Callable[..., Path]:
    """Write a config over a tiny JSONL source into tmp_path; ``extra`` is appended TOML."""

    def write(extra: str = "", *, records: list[dict] | None = None) -> Path:
        data = tmp_path / "tickets.jsonl"
        with data.open("w", encoding="utf-8") as fh:
            for r in tiny_records() if records is None else records:
                fh.write(json.dumps(r) + "\n")
        config = tmp_path / "config.toml"
        config.write_text(f"""
warehouse = "{tmp_path / 'wh.duckdb'}"

[[sources]]
name = "tickets"
path = "{data}"

[rank]
as_of = "latest"
min_authors = 2

[deliver]
outbox = "{tmp_path / 'outbox'}"
{extra}
""", encoding="utf-8")
        return config

    return write


def config_toml(folder: Path, sources: str, extra: str = "", *,
                warehouse: Path | None = None) -> str:
    """A whole config: ``sources`` (TOML of [[sources]]), PCA clustering (no UMAP JIT in every
    flow-run process), the outbox in ``folder``; ``extra`` is appended."""
    return f"""
warehouse = "{warehouse or folder / 'wh.duckdb'}"
{sources}
[cluster]
reducer = "pca"

[rank]
as_of = "latest"
min_authors = 2

[deliver]
outbox = "{folder / 'outbox'}"
{extra}
"""


def github_down(port: int, name: str = "github-down") -> str:
    """A GitHub source whose server is not there (``port`` closed): it fails fast, as a whole."""
    return f"""
[[sources]]
type = "github"
name = "{name}"
base_url = "http://127.0.0.1:{port}"
repos = ["acme/app"]
token_env = "FP_TEST_GITHUB_TOKEN"
max_retries = 1
max_retry_wait_seconds = 1
"""
