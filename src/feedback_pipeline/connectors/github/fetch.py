"""GitHub: ``GET /repos/{repo}/issues?state=all&sort=updated&direction=asc&since=<cursor>``.

Pages follow the ``Link`` header. Because the list is sorted by ``updated_at`` ascending, every
page's batch can carry the cursor "newest ``updated_at`` so far" per repository: a crash resumes
from the last committed page. ``since`` is treated as inclusive, so the newest issue of the
previous run is read again (an unchanged upsert) rather than risking a miss.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ...errors import SourceError
from ...sources.base import Batch
from ..common import ConnectorSource, dump_cursor, load_cursor, to_batch, token_credential
from ..http import Credential, HttpClient
from ..paginate import LinkHeaderPaginator, PageRequest
from .mapping import is_pull_request, map_issue
from .settings import GitHubSourceConfig


def fetch_issue_pages(
    client: HttpClient, repo: str, *, since: str | None, page_size: int
) -> Iterator[list[dict[str, Any]]]:
    """Yield raw pages of a repository's issues (and PRs) updated since ``since``."""
    params: dict[str, Any] = {"state": "all", "sort": "updated", "direction": "asc",
                              "per_page": page_size}
    if since:
        params["since"] = since
    for page in client.pages(PageRequest(f"/repos/{repo}/issues", params), LinkHeaderPaginator()):
        if not isinstance(page, list):
            raise SourceError(
                f"source '{client.source}': /repos/{repo}/issues did not return a list"
            )
        yield page


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
        try:
            for repo in self.settings.repos:
                since = state.get(repo) or self.settings.since
                for page in fetch_issue_pages(client, repo, since=since,
                                              page_size=self.settings.page_size):
                    rows = [map_issue(issue, source=self.name, repo=repo,
                                      max_body_chars=self.max_body_chars)
                            for issue in page if not is_pull_request(issue)]
                    newest = max((str(i["updated_at"]) for i in page if i.get("updated_at")),
                                 default=None)
                    if newest and newest > (state.get(repo) or ""):
                        state[repo] = newest
                    yield to_batch(rows, dump_cursor(state))
        finally:
            client.close()


__all__ = ["GitHubSource", "fetch_issue_pages"]
