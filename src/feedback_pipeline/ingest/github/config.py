"""Settings of the GitHub issues connector."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from feedback_pipeline.ingest.config import ConnectorConfig


class GitHubSourceConfig(ConnectorConfig):
    """Issues (not pull requests) of configured repositories, updated since the cursor, with
    their comments' authors and times (not their text) for the pulse, and with
    ``discussions = true`` their Discussions too.

    The token needs read access to issues: a fine-grained token with "Issues: read" on the repos,
    or a classic token with ``public_repo`` (``repo`` for private repos).
    """

    type: Literal["github"] = "github"
    base_url: str = "https://api.github.com"
    repos: list[str] = Field(min_length=1, description="'owner/name' of each repository.")
    token_env: str = "FP_GITHUB_TOKEN"
    page_size: int = Field(100, ge=1, le=100)
    since: str | None = Field(None, description="First run: only issues updated after this.")
    discussions: bool = Field(
        False, description="Also fetch the repos' Discussions (GraphQL; the token needs "
        "\"Discussions: read\").")
    max_comments: int = Field(
        100, ge=0, description="Comments read per changed issue for the community pulse (who "
        "answered a thread, and when): the oldest first, one request per 100 comments of each "
        "changed issue that has any; 0: none (GitHub issues then bring no thread data).")
    rate_limit_min_wait_seconds: float = Field(
        60.0, ge=0, description="Wait after a secondary rate limit that gives no retry-after "
        "(GitHub's docs: at least one minute).")
    graphql_url: str | None = Field(
        None, description="GraphQL endpoint; default <base_url>/graphql (GitHub Enterprise "
        "Server: https://<host>/api/graphql).")


__all__ = ["GitHubSourceConfig"]
