"""Shared fixtures: one Prefect harness and one model load per session, and cheap
function-scoped factories for the fast unit tests.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest
from hypothesis import settings

from feedback_pipeline.config import FileSourceConfig
from feedback_pipeline.ingest.files import FileSource
from feedback_pipeline.warehouse import db

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

# Hypothesis profiles. "ci": the same examples on every run (a red build reproduces, a green one
# is not luck) and no example database; `make test` and .ci/run select it. "explore": fresh random
# examples, failures remembered in .hypothesis/ (`make test HYPOTHESIS_PROFILE=explore`); pin
# every failure it finds as an @example of the property. Without HYPOTHESIS_PROFILE: "ci" when CI
# is set, else "explore".
settings.register_profile("ci", derandomize=True, database=None, print_blob=True)
settings.register_profile("explore", derandomize=False, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE")
                      or ("ci" if os.environ.get("CI") else "explore"))


@pytest.fixture(scope="session")
def prefect_harness():
    """One temporary Prefect server for the whole session (starting one costs ~15 s)."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture(scope="session")
def embedder():
    """The default embedding model, loaded once per session."""
    from feedback_pipeline.config import EmbedConfig
    from feedback_pipeline.embed.embedder import get_embedder

    return get_embedder(EmbedConfig())


@pytest.fixture
def warehouse() -> Iterator[duckdb.DuckDBPyConnection]:
    """A fresh in-memory warehouse with the schema applied."""
    con = db.connect(":memory:")
    yield con
    con.close()


@pytest.fixture
def make_record() -> Callable[..., dict]:
    """Build a valid raw record (as decoded from JSON); keyword arguments override fields."""

    def make(**overrides: object) -> dict:
        record = {
            "source": "forum",
            "kind": "community_post",
            "external_id": "p-1",
            "url": "https://forum.example.com/t/1",
            "author": "alice",
            "title": "CSV export fails",
            "body": "The CSV export fails for reports with more than ten thousand rows.",
            "created_at": "2024-05-01T09:30:00Z",
        }
        record.update(overrides)
        return record

    return make


@pytest.fixture
def write_jsonl(tmp_path: Path) -> Callable[..., Path]:
    """Write records (dicts) or raw lines (str/bytes) as one JSONL file under tmp_path."""

    def write(name: str, lines: list[dict | str | bytes]) -> Path:
        chunks = []
        for line in lines:
            if isinstance(line, dict):
                line = json.dumps(line)
            chunks.append(line if isinstance(line, bytes) else line.encode("utf-8"))
        path = tmp_path / name
        path.write_bytes(b"\n".join(chunks) + b"\n")
        return path

    return write


@pytest.fixture
def make_file_source() -> Callable[..., FileSource]:
    """A FileSource named 'forum' over a path (records without `source` get that name)."""

    def make(path: Path, *, name: str = "forum", max_body_chars: int = 100_000,
             default_kind: str | None = None) -> FileSource:
        return FileSource(FileSourceConfig(name=name, path=path, default_kind=default_kind),
                          max_body_chars=max_body_chars)

    return make


@pytest.fixture
def make_ranked_theme() -> Callable[..., dict]:
    """A ranked theme shaped like a row of ``rank.latest_ranking`` (JSON columns as strings)."""

    def make(theme_id: int = 7, rank: int = 1, **overrides: object) -> dict:
        breakdown = {
            "volume": {"value": 12, "normalized": 1.0, "weight": 1.0, "points": 1.0},
            "authors": {"value": 9, "normalized": 1.0, "weight": 1.5, "points": 1.5},
            "growth": {"value": 2.5, "normalized": 0.5, "weight": 0.75, "points": 0.375},
            "recency": {"value": 1.5, "normalized": 0.8, "weight": 0.75, "points": 0.6},
            "votes": {"value": 30, "normalized": 0.25, "weight": 0.5, "points": 0.125},
            "support_share": {"value": 0.25, "normalized": 0.25, "weight": 0.5, "points": 0.125},
        }
        quotes = [
            {"source": "forum", "external_id": "p-1", "text": "Export to CSV times out.",
             "url": "https://forum.example.com/t/1"},
            {"source": "desk", "external_id": "t-9", "text": "Our export never finishes.",
             "url": None},
        ]
        theme = {
            "run_id": "run-1",
            "theme_id": theme_id,
            "rank": rank,
            "score": 3.725,
            "item_count": 12,
            "distinct_authors": 9,
            "support_count": 3,
            "community_count": 9,
            "support_share": 0.25,
            "votes": 30,
            "recent_count": 5,
            "previous_count": 1,
            "growth": 3.0,
            "last_seen": datetime(2024, 6, 28, 12, 0, tzinfo=UTC),
            "days_since_last": 1.5,
            "breakdown": json.dumps(breakdown),
            "title": "CSV export times out on large reports",
            "keywords": ["csv export", "timeout", "large reports"],
            "quotes": json.dumps(quotes),
            "first_seen": datetime(2024, 4, 2, 8, 0, tzinfo=UTC),
        }
        theme.update(overrides)
        return theme

    return make
