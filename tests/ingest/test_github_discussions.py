"""GitHub Discussions over GraphQL, against the emulator with the real httpx client."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from emulators.github import GitHubEmulator

from feedback_pipeline.ingest.github.config import GitHubSourceConfig
from feedback_pipeline.ingest.github.fetch import GitHubSource
from feedback_pipeline.ingest.github.mapping import map_discussion
from feedback_pipeline.ingest.stage import get_cursor
from feedback_pipeline.records import Item

from .cases import FAST, REPO
from .conftest import rows, run


@pytest.fixture
def emu(monkeypatch: pytest.MonkeyPatch):
    with GitHubEmulator() as emulator:
        monkeypatch.setenv("FP_GITHUB_TOKEN", emulator.token)
        yield emulator


def source(emu: GitHubEmulator, **overrides) -> GitHubSource:
    values = {"name": "github", "base_url": emu.url, "repos": [REPO], "page_size": 2,
              "discussions": True, **FAST, **overrides}
    return GitHubSource(GitHubSourceConfig(**values))


def seed(emu: GitHubEmulator) -> None:
    emu.add_issue(REPO, 1, "Export fails", "Issue body", plus1=2)
    for n in range(10, 15):
        emu.add_discussion(REPO, n, f"Idea {n}: dark mode", f"Please add dark mode ({n})",
                           upvotes=n, comments=3)
    emu.add_discussion(REPO, 15, "Release notes", "Automated", user="release-bot", bot=True)


def graphql(emu: GitHubEmulator, start: int = 0) -> list:
    return [r for r in emu.requests[start:] if r.path == "/graphql"]


def test_discussions_are_paged_and_mapped(emu, warehouse):
    seed(emu)
    stats = run(warehouse, source(emu))["github"]
    assert stats.error is None and stats.new == 7  # 1 issue + 6 discussions
    calls = graphql(emu)
    assert len(calls) == 3  # 6 discussions, 2 a page
    assert [c.body["variables"]["cursor"] is None for c in calls] == [True, False, False]
    assert all(c.method == "POST" and c.body["variables"]["owner"] == "acme"
               and c.body["variables"]["name"] == "app" and c.body["variables"]["first"] == 2
               for c in calls)
    assert all(c.headers["authorization"] == f"Bearer {emu.token}" for c in calls)
    row = warehouse.execute(
        "SELECT kind, title, votes, tags, url, author_is_bot FROM items "
        "WHERE external_id = 'acme/app/discussions/12'").fetchone()
    assert row == ("community_post", "Idea 12: dark mode", 12,
                   ["discussion", "category:Ideas"],
                   "https://github.com/acme/app/discussions/12", False)
    assert warehouse.execute("SELECT author_is_bot FROM items WHERE external_id = "
                             "'acme/app/discussions/15'").fetchone() == (True,)
    cursor = json.loads(get_cursor(warehouse, "github"))
    assert cursor[f"{REPO}#discussions"] == emu.discussions[REPO][15]["updatedAt"]


def test_second_run_stops_paging_at_the_watermark(emu, warehouse):
    seed(emu)
    run(warehouse, source(emu))
    mark, served = len(emu.requests), len(emu.served)
    emu.edit_discussion(REPO, 11, body="Edited: dark mode please")
    stats = run(warehouse, source(emu), run_id="r2")["github"]
    assert (stats.new, stats.changed) == (0, 1)
    # newest first: the edited one, the previous newest (the watermark is inclusive), then a
    # page that reaches below the watermark ends the walk (of 3 pages)
    assert len(graphql(emu, mark)) == 2
    assert emu.served[served:][-4:] == [f"{REPO}/discussions/{n}" for n in (11, 15, 14, 13)]
    assert rows(warehouse, "github")[f"{REPO}/discussions/11"][1] == "Edited: dark mode please"


def test_watermark_is_committed_only_after_the_whole_walk(emu):
    seed(emu)
    batches = list(source(emu).fetch(None))
    key = f"{REPO}#discussions"
    cursors = [json.loads(b.cursor) for b in batches]
    assert [key in c for c in cursors] == [False, False, False, False, True]
    assert [len(b.items) for b in batches] == [1, 2, 2, 2, 0]


def test_discussions_off_by_default_sends_no_graphql(emu, warehouse):
    seed(emu)
    run(warehouse, source(emu, discussions=False))
    assert graphql(emu) == []
    assert set(rows(warehouse, "github")) == {f"{REPO}#1"}


def test_graphql_errors_fail_the_source_with_the_message(emu, warehouse):
    seed(emu)
    emu.fail(200, {"data": None, "errors": [{"type": "FORBIDDEN", "message": "Resource not "
                                             "accessible by personal access token"}]},
             path="/graphql")
    stats = run(warehouse, source(emu))["github"]
    assert stats.error is not None and "source 'github'" in stats.error
    assert "Resource not accessible by personal access token" in stats.error
    assert json.loads(get_cursor(warehouse, "github")) == {REPO: emu.issues[REPO][1]["updated_at"]}


def test_repository_without_discussions_keeps_no_discussion_watermark(emu, warehouse):
    emu.add_issue(REPO, 1, "Export fails", "Issue body")
    assert run(warehouse, source(emu))["github"].error is None
    assert len(graphql(emu)) == 1
    assert json.loads(get_cursor(warehouse, "github")) == {REPO: emu.issues[REPO][1]["updated_at"]}


def test_graphql_429_is_retried(emu, warehouse):
    seed(emu)
    emu.rate_limit(retry_after=0, path="/graphql")
    assert run(warehouse, source(emu))["github"].error is None
    assert len(rows(warehouse, "github")) == 7


def test_map_discussion_recorded_node():
    node = {"id": "D_kwDOA", "number": 7, "title": "Offline mode", "body": "Would love it",
            "url": "https://github.com/o/r/discussions/7", "createdAt": "2024-05-01T10:00:00Z",
            "updatedAt": "2024-05-02T10:00:00Z", "author": None, "upvoteCount": 4,
            "comments": {"totalCount": 2}, "category": {"name": "Ideas"}}
    assert map_discussion(node, source="gh", repo="o/r", max_body_chars=1000) == Item(
        source="gh", kind="community_post", external_id="o/r/discussions/7",
        created_at=datetime(2024, 5, 1, 10, tzinfo=UTC),
        updated_at=datetime(2024, 5, 2, 10, tzinfo=UTC), title="Offline mode",
        body="Would love it", url="https://github.com/o/r/discussions/7", author=None,
        tags=("discussion", "category:Ideas"), votes=4, author_role="customer")
