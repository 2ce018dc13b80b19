"""GitHub: REST issues against the 2022-11-28 description excerpt, Discussions against GitHub's
public GraphQL schema (graphql-core), and the limits GitHub's docs describe.

The REST excerpt (``../shared/contracts/github``) is not an OpenAPI file: ``contract.py`` turns
what it states (parameters and enums, the issue's required fields, labels as strings or objects)
into one. No deviation is waived.
"""

from __future__ import annotations

import pytest

from emulators.contract import check_exchanges, spec
from emulators.contract_github import check_graphql
from emulators.github import GitHubEmulator
from feedback_pipeline.ingest.github.config import GitHubSourceConfig
from feedback_pipeline.ingest.github.fetch import DISCUSSIONS_QUERY, GitHubSource
from feedback_pipeline.ingest.http import Credential, HttpClient, RetryPolicy
from feedback_pipeline.ingest.paginate import PageRequest
from feedback_pipeline.ingest.stage import ingest

REPO = "acme/app"


@pytest.fixture
def emu(monkeypatch: pytest.MonkeyPatch):
    with GitHubEmulator() as emulator:
        monkeypatch.setenv("FP_GITHUB_TOKEN", emulator.token)
        yield emulator


def source(emu: GitHubEmulator, **overrides) -> GitHubSource:
    values = {"name": "gh", "base_url": emu.url, "repos": [REPO], "page_size": 2,
              "max_retries": 3, "max_retry_wait_seconds": 5, "timeout_seconds": 5,
              "rate_limit_min_wait_seconds": 0, **overrides}
    return GitHubSource(GitHubSourceConfig(**values))


def seed(emu: GitHubEmulator, n: int = 5) -> None:
    for number in range(1, n + 1):
        emu.add_issue(REPO, number, f"Issue {number}", f"Body {number}", plus1=number,
                      labels=("bug", "export"))


def ingested(warehouse) -> dict[str, list[str]]:
    return dict(warehouse.execute("SELECT external_id, tags FROM items").fetchall())


def test_contract_github_rest_and_graphql_exchanges_match_the_descriptions(emu, warehouse):
    seed(emu)
    emu.add_issue(REPO, 6, "A pull request", "diff", pull_request=True)
    emu.add_issue(REPO, 7, "Release notes", "2.3", association="MEMBER")
    for n in range(3):  # two pages of comments at max_comments=2
        emu.add_comment(REPO, 1, f"comment {n}", user="sam", association="MEMBER")
    for number in (1, 2, 3):
        emu.add_discussion(REPO, number, f"Idea {number}", "body", upvotes=number,
                           bot=number == 3, association="OWNER" if number == 2 else "NONE")
    ingest(warehouse, [source(emu, discussions=True, max_comments=2)], run_id="r1")
    roles = dict(warehouse.execute("SELECT external_id, author_role FROM items").fetchall())
    assert (roles[f"{REPO}#7"], roles[f"{REPO}/discussions/2"],
            roles[f"{REPO}/discussions/3"], roles[f"{REPO}#1"]) == (
        "staff", "staff", "bot", "customer")
    emu.edit(REPO, 2, body="edited")
    ingest(warehouse, [source(emu, discussions=True, max_comments=2)], run_id="r2")

    rest = [r for r in emu.requests if r.path != "/graphql"]
    comments = [r for r in rest if r.path.endswith("/comments")]
    # max_comments 2: one page of 2 a night, though each walk reads issue 1 (the newest: its
    # comments moved it) twice, at a page boundary and again from r2's cursor minus a second
    assert [r.query for r in comments] == [{"per_page": ["2"]}] * 2
    assert check_exchanges(spec("github"), rest) == {
        "GET /repos/{owner}/{repo}/issues": len(rest) - 2,
        "GET /repos/{owner}/{repo}/issues/{issue_number}/comments": 2}
    graphql = [r for r in emu.requests if r.path == "/graphql"]
    assert graphql
    for r in graphql:
        assert r.body["query"] == DISCUSSIONS_QUERY
        check_graphql(r.body["query"], r.body["variables"], r.response.body["data"])


def test_contract_github_comments_read_whole_again_when_an_issue_changes(emu, warehouse):
    """A new comment moves the issue's updated_at: the next night reads the issue and all its
    comments again (capped by max_comments), so the stored replies are the current ones."""
    emu.add_issue(REPO, 1, "Export fails", "CSV")
    emu.add_comment(REPO, 1, "me too")
    ingest(warehouse, [source(emu, max_comments=2)], run_id="r1")
    emu.add_comment(REPO, 1, "Fixed in 2.3", user="sam", association="OWNER")
    emu.add_comment(REPO, 1, "Thanks", user="octocat")
    ingest(warehouse, [source(emu, max_comments=2)], run_id="r2")
    rows = warehouse.execute("SELECT reply_id, author_role FROM thread_replies "
                             "ORDER BY created_at").fetchall()
    first, fixed = (str(c["id"]) for c in emu.comments[(REPO, 1)][:2])
    assert rows == [(first, "customer"), (fixed, "staff")]
    check_exchanges(spec("github"), emu.requests)


def test_contract_github_comments_beyond_a_page_follow_the_link_header(emu, warehouse):
    emu.add_issue(REPO, 1, "Export fails", "CSV")
    for n in range(130):
        emu.add_comment(REPO, 1, f"+{n}")
    ingest(warehouse, [source(emu, max_comments=120)], run_id="r1")
    pages = [r for r in emu.requests if r.path.endswith("/comments")]
    assert [len(r.response.body) for r in pages] == [100, 30]  # per_page is at most 100
    assert warehouse.execute("SELECT count(*) FROM thread_replies").fetchone()[0] == 120
    check_exchanges(spec("github"), emu.requests)


def test_contract_github_comments_of_an_issue_deleted_mid_walk_are_skipped(emu, warehouse):
    emu.add_issue(REPO, 1, "Export fails", "CSV")
    emu.add_comment(REPO, 1, "me too")
    emu.add_issue(REPO, 2, "Import fails", "XLSX")
    emu.after_page(1, lambda: emu.delete(REPO, 1))  # gone before its comments are asked for
    stats = ingest(warehouse, [source(emu)], run_id="r1").sources["gh"]
    assert stats.error is None
    assert warehouse.execute("SELECT external_id, thread_id FROM items ORDER BY 1").fetchall() \
        == [(f"{REPO}#1", None), (f"{REPO}#2", f"{REPO}#2")]
    assert any(r.response.status == 404 for r in emu.requests)


def test_contract_github_graphql_query_is_valid_against_the_schema():
    check_graphql(DISCUSSIONS_QUERY, {"owner": "o", "name": "r", "first": 1, "cursor": None},
                  {"repository": {"discussions": {"nodes": [], "pageInfo": {
                      "hasNextPage": False, "endCursor": None}}}})


def test_contract_github_labels_may_be_strings(monkeypatch, warehouse):
    with GitHubEmulator(label_strings=True) as emu:
        monkeypatch.setenv("FP_GITHUB_TOKEN", emu.token)
        seed(emu, 2)
        stats = ingest(warehouse, [source(emu)], run_id="r1").sources["gh"]
        check_exchanges(spec("github"), emu.requests)
    assert stats.error is None
    assert ingested(warehouse) == {f"{REPO}#1": ["bug", "export"], f"{REPO}#2": ["bug", "export"]}


def test_contract_github_secondary_limit_403_is_waited_out_not_a_credentials_error(emu,
                                                                                 warehouse):
    seed(emu, 3)
    emu.secondary_rate_limit(path="/issues")
    stats = ingest(warehouse, [source(emu)], run_id="r1").sources["gh"]
    assert stats.error is None
    assert len(ingested(warehouse)) == 3


def test_contract_github_secondary_limit_waits_at_least_the_configured_minute(emu):
    seed(emu, 1)
    emu.secondary_rate_limit()
    slept: list[float] = []
    client = HttpClient(source="gh", base_url=emu.url,
                        credential=lambda: Credential({"Authorization": f"Bearer {emu.token}"}),
                        retry=RetryPolicy(max_total_wait=600, min_rate_limit_wait=60),
                        sleep=slept.append)
    data, _ = client.request_json(PageRequest(f"/repos/{REPO}/issues"))
    assert [i["number"] for i in data] == [1]
    assert slept == [60.0]


def test_contract_github_secondary_limit_wait_is_bounded(emu):
    emu.secondary_rate_limit()
    client = HttpClient(source="gh", base_url=emu.url,
                        credential=lambda: Credential({"Authorization": f"Bearer {emu.token}"}),
                        retry=RetryPolicy(max_total_wait=30, min_rate_limit_wait=60),
                        sleep=lambda s: None)
    with pytest.raises(Exception, match="rate limiting or down.*max_retry_wait_seconds"):
        client.request_json(PageRequest(f"/repos/{REPO}/issues"))


def test_contract_github_graphql_limit_200_with_errors_waits_for_the_reset(emu, warehouse):
    emu.add_discussion(REPO, 1, "Idea", "body")
    emu.graphql_rate_limit(reset_in=30)
    slept: list[float] = []
    client = HttpClient(source="gh", base_url=emu.url,
                        credential=lambda: Credential({"Authorization": f"Bearer {emu.token}"}),
                        retry=RetryPolicy(max_total_wait=60), sleep=slept.append)
    request = PageRequest("/graphql", method="POST", json={
        "query": DISCUSSIONS_QUERY,
        "variables": {"owner": "acme", "name": "app", "first": 10, "cursor": None}})
    data, _ = client.request_json(request)
    assert [n["number"] for n in data["data"]["repository"]["discussions"]["nodes"]] == [1]
    assert len(slept) == 1 and 25 <= slept[0] <= 31  # until x-ratelimit-reset


def test_contract_github_graphql_limit_does_not_fail_the_discussions_fetch(emu, warehouse):
    emu.add_issue(REPO, 1, "Issue", "body")
    emu.add_discussion(REPO, 1, "Idea", "body")
    emu.graphql_rate_limit(reset_in=0)
    stats = ingest(warehouse, [source(emu, discussions=True)], run_id="r1").sources["gh"]
    assert stats.error is None
    assert set(ingested(warehouse)) == {f"{REPO}#1", f"{REPO}/discussions/1"}


def test_contract_github_issue_updated_mid_walk_loses_nothing(emu, warehouse):
    seed(emu, 5)
    # Issue 1 is on the first page; updating it moves it to the end of sort=updated, which
    # shifts issue 3 onto page 1 for a page-number walk.
    emu.after_page(1, lambda: emu.edit(REPO, 1, body="edited mid-walk"))
    stats = ingest(warehouse, [source(emu)], run_id="r1").sources["gh"]
    assert stats.error is None
    assert sorted(ingested(warehouse)) == [f"{REPO}#{n}" for n in range(1, 6)]
    body = warehouse.execute("SELECT body FROM items WHERE external_id = ?",
                             [f"{REPO}#1"]).fetchone()[0]
    assert body == "edited mid-walk"

    emu.edit(REPO, 4, body="edited later")  # the cursor did not skip anything either
    ingest(warehouse, [source(emu)], run_id="r2")
    assert warehouse.execute("SELECT body FROM items WHERE external_id = ?",
                             [f"{REPO}#4"]).fetchone()[0] == "edited later"


def test_contract_github_walk_steps_over_a_full_page_of_equal_timestamps(emu, warehouse):
    seed(emu, 5)
    same = "2024-05-01T00:30:00Z"
    for issue in emu.issues[REPO].values():
        issue["updated_at"] = same
    stats = ingest(warehouse, [source(emu)], run_id="r1").sources["gh"]
    assert stats.error is None
    assert len(ingested(warehouse)) == 5


def test_contract_github_walk_survives_an_unreadable_updated_at(emu, warehouse):
    seed(emu, 3)
    emu.issues[REPO][2]["updated_at"] = "not a date"
    stats = ingest(warehouse, [source(emu)], run_id="r1").sources["gh"]
    assert stats.error is None
    assert sorted(ingested(warehouse)) == [f"{REPO}#1", f"{REPO}#3"]
    assert stats.rejected >= 1  # the unreadable issue is kept as a rejection, with its reason
