"""Data fixtures for the end-to-end tests (the session harness and model are in tests/conftest.py)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "demo" / "feedback_demo.jsonl"


def demo_subset(n_ticket_intents: int = 6) -> list[dict]:
    """Real demo records: a few support-ticket intents (by first ticket text) plus community posts."""
    records = [json.loads(line) for line in DEMO.read_text(encoding="utf-8").splitlines()]
    tickets = [r for r in records if r["kind"] == "support_ticket"]
    # Tickets of one intent are consecutive ids in the demo builder (40 per intent).
    keep_ids = {str(1001 + 40 * k + j) for k in range(n_ticket_intents) for j in range(40)}
    posts = [r for r in records if r["kind"] == "community_post"][:80]
    return [r for r in tickets if r["external_id"] in keep_ids] + posts


BAD_LINES = [
    b'{"source": "bad", "kind": "community_post", "external_id": "x1", "body": "no date"}',
    b'{"source": "bad", "kind": "support_ticket", "external_id": "x2", "body": "truncated json"',
    b'["not", "an", "object"]',
    b'{"source": "bad", "kind": "rumour", "external_id": "x3", "body": "bad kind",'
    b' "created_at": "2026-10-01T00:00:00Z"}',
    '{"source": "bad", "kind": "community_post", "external_id": "x4", "body": "caf\u00e9 latin-1",'
    ' "created_at": "2026-10-01T00:00:00Z"}'.encode("latin-1"),
    b'{"source": "bad", "kind": "community_post", "external_id": "x5", "body": "'
    + b"a" * 1_000_001
    + b'", "created_at": "2026-10-01T00:00:00Z"}',
    b'{"source": "bad", "kind": "community_post", "external_id": "x6", "title": "", "body": "",'
    b' "created_at": "2026-10-01T00:00:00Z"}',
]


@pytest.fixture
def fixture_config(tmp_path: Path) -> Path:
    """A config with two file sources (good demo subset, bad records) and an empty file."""
    data = tmp_path / "data"
    data.mkdir()
    with (data / "good.jsonl").open("w", encoding="utf-8") as fh:
        for r in demo_subset():
            fh.write(json.dumps(r) + "\n")
    (data / "bad.jsonl").write_bytes(b"\n".join(BAD_LINES) + b"\n")
    (data / "empty.csv").write_bytes(b"")
    config = tmp_path / "config.toml"
    config.write_text(
        f"""
warehouse = "{tmp_path / 'wh.duckdb'}"

[[sources]]
name = "good"
path = "{data / 'good.jsonl'}"

[[sources]]
name = "bad"
path = "{data / 'bad.jsonl'}"

[[sources]]
name = "empty"
path = "{data / 'empty.csv'}"

[rank]
as_of = "latest"
min_authors = 3

[deliver]
outbox = "{tmp_path / 'outbox'}"
""",
        encoding="utf-8",
    )
    return config
