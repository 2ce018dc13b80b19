"""GitHub: ``GET /repos/{repo}/issues?state=all&sort=updated&direction=asc&since=<cursor>``.

The walk is keyset paging (:class:`SincePaginator`): every request starts again at ``since`` =
the newest ``updated_at`` read so far minus one second, not at the next page number, because an
issue updated mid-walk jumps to the end of the list and would shift the first issue of the next
page onto a page already read (lost, and the cursor would move past it). Because the list is
sorted by ``updated_at`` ascending, every page's batch can carry the cursor "newest
``updated_at`` so far" per repository: a crash resumes from the last committed page; the
boundary issues are read again (unchanged upserts) rather than risking a miss.

Rate limits (the shared client, ``ingest/http.py``): a 403 secondary limit without
``retry-after`` waits ``rate_limit_min_wait_seconds`` (60 s, GitHub's "at least one minute"),
a primary limit until ``x-ratelimit-reset``, GraphQL's 200-with-``errors`` limit too; all within
``max_retry_wait_seconds``.

An issue's comments (``GET /repos/{repo}/issues/{n}/comments``, ascending id, ``Link`` paging)
are read for each changed issue whose ``comments`` count is above 0, up to ``max_comments``:
a new comment moves the issue's ``updated_at``, so the walk above brings the issue back and its
replies are read again whole. An issue deleted in between (404) keeps no thread data.

Discussions (``discussions = true``) exist only in GraphQL: ``POST /graphql`` asks for
``discussions(orderBy: UPDATED_AT DESC)`` pages, the ``after`` cursor sent back in the JSON body's
``variables``, and stops at the first discussion updated before the stored watermark (inclusive,
like ``since``). Newest-first means a crash mid-walk must not advance the watermark, so it is
committed with a last batch after the walk.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import httpx

from feedback_pipeline.errors import RecordError, SourceError
from feedback_pipeline.ingest.connector import (
    ConnectorSource,
    dump_cursor,
    load_cursor,
    to_batch,
    token_credential,
)
from feedback_pipeline.ingest.github.config import GitHubSourceConfig
from feedback_pipeline.ingest.github.mapping import is_pull_request, map_discussion, map_issue
from feedback_pipeline.ingest.http import Credential, HttpClient
from feedback_pipeline.ingest.paginate import (
    CursorPaginator,
    LinkHeaderPaginator,
    PageRequest,
    SincePaginator,
    paginate,
)
from feedback_pipeline.ingest.source import Batch
from feedback_pipeline.records import parse_timestamp

ISO = "%Y-%m-%dT%H:%M:%SZ"
DISCUSSIONS_QUERY = """
query($owner: String!, $name: String!, $first: Int!, $cursor: String) {
  repository(owner: $owner, name: $name) {
    discussions(first: $first, after: $cursor, orderBy: {field: UPDATED_AT, direction: DESC}) {
      nodes {
        id number title body url createdAt updatedAt
        author { __typename login } authorAssociation
        upvoteCount comments { totalCount } category { name }
      }
      pageInfo { hasNextPage endCursor }
    }
  }
}
""".strip()


def fetch_issue_pages(
    client: HttpClient, repo: str, *, since: str | None, page_size: int
) -> Iterator[list[dict[str, Any]]]:
    """Yield raw pages of a repository's issues (and PRs) updated since ``since``."""
    params: dict[str, Any] = {"state": "all", "sort": "updated", "direction": "asc",
                              "per_page": page_size}
    if since:
        params["since"] = since

    def issues(page: Any) -> list[dict[str, Any]]:
        if not isinstance(page, list):
            raise SourceError(
                f"source '{client.source}': /repos/{repo}/issues did not return a list"
            )
        return page

    paginator = SincePaginator(_updated_at, items=issues, page_size=page_size,
                               overlap=_one_second_before, since=since)
    yield from client.pages(PageRequest(f"/repos/{repo}/issues", params), paginator)


def fetch_issue_comments(client: HttpClient, repo: str, number: object, *,
                         limit: int) -> list[dict[str, Any]] | None:
    """An issue's first ``limit`` comments, oldest first (GitHub lists them by ascending id);
    None when the issue is gone (404)."""
    request = PageRequest(f"/repos/{repo}/issues/{number}/comments",
                          {"per_page": min(100, limit)})
    comments: list[dict[str, Any]] = []
    for page in paginate(lambda r: client.request_json(r, missing_ok=True), request,
                         LinkHeaderPaginator()):
        if page is None:
            return None
        if not isinstance(page, list):
            raise SourceError(f"source '{client.source}': the comments of {repo}#{number} "
                              "are not a list")
        comments.extend(page)
        if len(comments) >= limit:
            break
    return comments[:limit]


def _updated_at(issue: dict[str, Any]) -> str:
    """``updated_at`` in UTC (``""`` when unreadable: the mapping rejects that issue)."""
    try:
        return parse_timestamp(issue.get("updated_at"), "updated_at").strftime(ISO)
    except RecordError:
        return ""


def _one_second_before(timestamp: str) -> str:
    return (parse_timestamp(timestamp, "updated_at") - timedelta(seconds=1)).strftime(ISO)


def _discussions(data: dict[str, Any]) -> dict[str, Any]:
    return ((data.get("data") or {}).get("repository") or {}).get("discussions") or {}


def _older(node: dict[str, Any], since: datetime | None) -> bool:
    return since is not None and parse_timestamp(node["updatedAt"], "updatedAt") < since


def fetch_discussion_pages(
    client: HttpClient, repo: str, *, since: str | None, page_size: int, graphql_url: str
) -> Iterator[list[dict[str, Any]]]:
    """Yield pages of a repository's discussions, newest update first, down to ``since``.

    Raises:
        SourceError: GraphQL answered ``errors`` (with HTTP 200), e.g. an unknown repository.
    """
    owner, name = repo.split("/", 1)
    cutoff = parse_timestamp(since, "since") if since else None

    def send(request: PageRequest) -> tuple[Any, httpx.Response]:
        data, response = client.request_json(request)
        if not isinstance(data, dict) or data.get("errors"):
            errors = data.get("errors") if isinstance(data, dict) else data
            messages = "; ".join(str(e.get("message", e)) if isinstance(e, dict) else str(e)
                                 for e in (errors if isinstance(errors, list) else [errors]))
            raise SourceError(f"source '{client.source}': GraphQL discussions of {repo} "
                              f"failed: {messages}")
        return data, response

    def next_cursor(data: dict[str, Any]) -> str | None:
        page = _discussions(data)
        if any(_older(node, cutoff) for node in page.get("nodes") or []):
            return None
        info = page.get("pageInfo") or {}
        return info.get("endCursor") if info.get("hasNextPage") else None

    request = PageRequest(graphql_url, method="POST", json={
        "query": DISCUSSIONS_QUERY,
        "variables": {"owner": owner, "name": name, "first": page_size, "cursor": None}})
    paginator = CursorPaginator(next_cursor, param="variables.cursor", in_body=True)
    for data in paginate(send, request, paginator):
        nodes = _discussions(data).get("nodes") or []
        yield [node for node in nodes if not _older(node, cutoff)]


class GitHubSource(ConnectorSource):
    settings: GitHubSourceConfig

    def credential(self) -> Credential:
        return token_credential(self.name, self.settings.token_env)

    def default_headers(self) -> dict[str, str]:
        return {**super().default_headers(), "Accept": "application/vnd.github+json",
                "X-GitHub-Api-Version": "2022-11-28"}

    def fetch(self, cursor: str | None) -> Iterator[Batch]:
        state = load_cursor(cursor)
        client = self.client()
        # the keyset walk reads boundary issues twice: their comments are asked for once
        read: dict[tuple[str, object, object], list[dict[str, Any]] | None] = {}
        try:
            for repo in self.settings.repos:
                since = state.get(repo) or self.settings.since
                for page in fetch_issue_pages(client, repo, since=since,
                                              page_size=self.settings.page_size):
                    rows = [map_issue(issue, source=self.name, repo=repo,
                                      max_body_chars=self.max_body_chars,
                                      comments=self._comments(client, repo, issue, read))
                            for issue in page if not is_pull_request(issue)]
                    newest = max((str(i["updated_at"]) for i in page if i.get("updated_at")),
                                 default=None)
                    if newest and newest > (state.get(repo) or ""):
                        state[repo] = newest
                    yield to_batch(rows, dump_cursor(state))
                if self.settings.discussions:
                    yield from self._fetch_discussions(client, repo, state)
        finally:
            client.close()

    def _comments(self, client: HttpClient, repo: str, issue: dict[str, Any],
                  read: dict[tuple[str, object, object], list[dict[str, Any]] | None],
                  ) -> list[dict[str, Any]] | None:
        """The issue's comments (None: not read, so the issue brings no thread data)."""
        limit = self.settings.max_comments
        if not limit:
            return None
        if not issue.get("comments"):
            return []  # a thread nobody has answered yet, or whose comments were all deleted
        key = (repo, issue.get("number"), issue.get("updated_at"))
        if key not in read:
            read[key] = fetch_issue_comments(client, repo, issue.get("number"), limit=limit)
        return read[key]

    def _fetch_discussions(self, client: HttpClient, repo: str,
                           state: dict[str, Any]) -> Iterator[Batch]:
        key = f"{repo}#discussions"
        since = state.get(key) or self.settings.since
        newest = state.get(key)
        graphql = self.settings.graphql_url or f"{self.settings.base_url.rstrip('/')}/graphql"
        for nodes in fetch_discussion_pages(client, repo, since=since,
                                            page_size=self.settings.page_size,
                                            graphql_url=graphql):
            for node in nodes:
                if newest is None or parse_timestamp(node["updatedAt"], "updatedAt") > \
                        parse_timestamp(newest, "watermark"):
                    newest = node["updatedAt"]
            # the watermark stays put until the whole newest-first walk is committed
            yield to_batch([map_discussion(node, source=self.name, repo=repo,
                                           max_body_chars=self.max_body_chars)
                            for node in nodes], dump_cursor(state))
        if newest:
            state[key] = newest
            yield Batch(cursor=dump_cursor(state))


__all__ = ["DISCUSSIONS_QUERY", "GitHubSource", "fetch_discussion_pages", "fetch_issue_comments",
           "fetch_issue_pages"]
