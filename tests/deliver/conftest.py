"""Fixtures for the sink tests: the Jira emulator, settings pointing at it, a seeded warehouse.

The embedding model loads once per session (``embedder``, as in tests/e2e); fast tests use
``hash_embedder``, a deterministic bag-of-words embedder with the same ``embed`` interface.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import duckdb
import numpy as np
import pytest
from emulators.jira import JiraEmulator

from feedback_pipeline.deliver.jira import JiraConfig
from feedback_pipeline.warehouse import db

os.environ.setdefault("HF_HUB_OFFLINE", "1")

AS_OF = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="session")
def embedder():
    from feedback_pipeline.config import EmbedConfig
    from feedback_pipeline.embed.embedder import get_embedder

    return get_embedder(EmbedConfig())


class HashingEmbedder:
    """Words hashed into 512 dimensions, L2-normalised: similar wording, similar vectors."""

    def embed(self, texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), 512), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in re.findall(r"[a-z]{3,}", text.lower()):
                out[row, int(hashlib.md5(word.encode()).hexdigest(), 16) % 512] += 1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.where(norms == 0, 1, norms)


@pytest.fixture
def hash_embedder() -> HashingEmbedder:
    return HashingEmbedder()


@pytest.fixture
def jira_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FP_JIRA_USER", "pm-bot@example.com")
    monkeypatch.setenv("FP_JIRA_TOKEN", "s3cr3t-api-token")


@pytest.fixture(params=[True, False], ids=["cloud", "server"])
def jira_emu(request: pytest.FixtureRequest) -> Iterator[JiraEmulator]:
    with JiraEmulator(cloud=request.param, page_size=3) as emu:
        yield emu


@pytest.fixture
def cloud_emu() -> Iterator[JiraEmulator]:
    with JiraEmulator(cloud=True, page_size=3) as emu:
        yield emu


@pytest.fixture
def make_settings(jira_env: None) -> Callable[..., JiraConfig]:
    def make(emu: JiraEmulator, **overrides: object) -> JiraConfig:
        # A generous timeout: a busy machine must not fail a test that is not about timeouts
        # (those set their own, shorter than the emulator's delay).
        values: dict = {"enabled": True, "server": emu.url, "timeout_seconds": 30.0,
                        "max_retries": 2, "project": "FB", "min_authors": 3}
        values.update(overrides)
        return JiraConfig.model_validate(values)

    return make


@pytest.fixture
def warehouse() -> Iterator[duckdb.DuckDBPyConnection]:
    con = db.connect(":memory:")
    yield con
    con.close()


TOPICS = {
    1: ("CSV export times out on large reports",
        ["csv export", "timeout"], "The CSV export times out when the report is large"),
    2: ("Dark mode for the dashboard",
        ["dark mode", "theme"], "Please add a dark mode to the dashboard, my eyes hurt at night"),
    3: ("Cannot reset password from the mobile app",
        ["password reset", "mobile"], "The password reset link does not open in the mobile app"),
}


def seed_theme(con: duckdb.DuckDBPyConnection, theme_id: int, n: int, *,
               source: str = "forum", start: datetime = AS_OF - timedelta(days=20),
               step: timedelta = timedelta(hours=6), offset: int = 0) -> None:
    """Add ``n`` items (distinct authors) to theme ``theme_id`` (created on first use)."""
    title, keywords, text = TOPICS.get(theme_id, (f"Theme {theme_id}", [], f"Topic {theme_id}"))
    quotes = [{"source": source, "external_id": f"{theme_id}-{k}", "text": f"{text} ({k})",
               "url": f"https://forum.example.com/t/{theme_id}-{k}"} for k in range(3)]
    con.execute("INSERT OR IGNORE INTO themes (theme_id, title, keywords, quotes, status, "
                "first_seen) VALUES (?, ?, ?, ?, 'active', ?)",
                [theme_id, title, keywords, json.dumps(quotes), start])
    for k in range(offset, offset + n):
        ext = f"{theme_id}-{source}-{k}"
        con.execute(
            "INSERT INTO items (source, external_id, kind, url, author_hash, title, body, "
            "created_at, updated_at, content_hash, clean_text, language) VALUES "
            "(?, ?, 'community_post', ?, ?, ?, ?, ?, ?, 'h', ?, 'en')",
            [source, ext, f"https://{source}.example.com/t/{ext}", f"a-{ext}", f"{title} #{k}",
             text, start + (k - offset) * step, start + (k - offset) * step, f"{text} #{k}"])
        con.execute("INSERT INTO item_themes (source, external_id, theme_id) VALUES (?, ?, ?)",
                    [source, ext, theme_id])


def ranked(con: duckdb.DuckDBPyConnection, theme_ids: list[int], *,
           as_of: datetime = AS_OF) -> list[dict]:
    """A ranking shaped like ``rank.latest_ranking`` from the seeded items."""
    out = []
    for rank, tid in enumerate(theme_ids, 1):
        n, authors, last = con.execute(
            "SELECT count(*), count(DISTINCT author_hash), max(created_at) FROM item_themes "
            "JOIN items USING (source, external_id) WHERE theme_id = ? AND created_at <= ?",
            [tid, as_of]).fetchone()
        title, keywords, quotes, first = con.execute(
            "SELECT title, keywords, quotes, first_seen FROM themes WHERE theme_id = ?",
            [tid]).fetchone()
        comp = {"value": n, "normalized": 1.0, "weight": 1.0, "points": 1.0}
        out.append({
            "run_id": "r", "theme_id": tid, "rank": rank, "score": 3.0 - rank / 10,
            "item_count": n, "distinct_authors": authors, "support_count": 0,
            "community_count": n, "support_share": 0.0, "votes": 0, "recent_count": n,
            "previous_count": 0, "growth": 1.0, "last_seen": last, "days_since_last": 0.5,
            "breakdown": json.dumps({"volume": comp}), "title": title, "keywords": keywords,
            "quotes": quotes, "first_seen": first})
    return out


def seed_ranked(con: duckdb.DuckDBPyConnection, ranking: list[dict], *,
                kind: str = "community_post", first_seen_run: str | None = None) -> None:
    """Store the quoted items of ``make_ranked_theme`` rows as the themes' members, so a digest
    built from the warehouse (its counts, threads, filter) sees them; new unless
    ``first_seen_run`` is a run an earlier digest announced."""
    for theme in ranking:
        at = theme.get("last_seen") or AS_OF - timedelta(days=1)
        quotes = theme["quotes"]
        for q in json.loads(quotes) if isinstance(quotes, str) else quotes or []:
            con.execute(
                "INSERT OR IGNORE INTO items (source, external_id, kind, url, author_hash, title, "
                "body, clean_text, created_at, updated_at, content_hash, first_seen_run) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'h', ?)",
                [q["source"], q["external_id"], kind, q.get("url"), f"a-{q['external_id']}",
                 f"Thread {q['external_id']}", q["text"], q["text"], at, at, first_seen_run])
            con.execute("INSERT OR IGNORE INTO item_themes (source, external_id, theme_id) "
                        "VALUES (?, ?, ?)", [q["source"], q["external_id"], theme["theme_id"]])


# --- Slack digest sink (tests/deliver/test_slack_*.py) ----------------------------------------
from emulators.slack import SlackEmulator  # noqa: E402

from feedback_pipeline.config import SlackConfig  # noqa: E402

SLACK_TOKEN = "xoxb-111-222-emulatortoken"


@pytest.fixture
def slack_emulator() -> Iterator[SlackEmulator]:
    """A running Slack Web API emulator with channel C0FEEDBACK (#community-feedback)."""
    with SlackEmulator(token=SLACK_TOKEN) as emu:
        yield emu


@pytest.fixture
def slack_settings(slack_emulator: SlackEmulator,
                   monkeypatch: pytest.MonkeyPatch) -> Callable[..., SlackConfig]:
    """Bot-mode settings for the emulator (token in FP_SLACK_TOKEN); keyword overrides."""
    monkeypatch.setenv("FP_SLACK_TOKEN", SLACK_TOKEN)
    monkeypatch.setenv("FP_SLACK_WEBHOOK_URL", slack_emulator.webhook_url)

    def make(**overrides: object) -> SlackConfig:
        values: dict = {"enabled": True, "channel": "#community-feedback",
                        "base_url": slack_emulator.base_url, "max_retries": 2,
                        "timeout_seconds": 5}
        values.update(overrides)
        return SlackConfig(**values)

    return make
