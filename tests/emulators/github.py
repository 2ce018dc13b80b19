"""GitHub REST emulator: ``GET /repos/{owner}/{repo}/issues`` (API-NOTES §5).

``state``/``sort=updated``/``direction``/``since`` (inclusive)/``per_page``/``page``, a ``Link``
header with ``next``/``last``, PRs mixed in (with a ``pull_request`` key), 401 ``Bad
credentials``, and GitHub's rate limits: 429 + ``Retry-After`` or 403 with
``x-ratelimit-remaining: 0`` and ``x-ratelimit-reset``.
"""

from __future__ import annotations

import re
import time
from typing import Any

from .clock import Clock
from .httpserver import Emulator, Request, Response

DOCS = "https://docs.github.com/rest"


class GitHubEmulator(Emulator):
    def __init__(self, token: str = "ghp_test-token") -> None:
        super().__init__(token)
        self.clock = Clock()
        self.issues: dict[str, dict[int, dict[str, Any]]] = {}

    def add_issue(self, repo: str, number: int, title: str, body: str = "", *,
                  user: str = "octocat", bot: bool = False, pull_request: bool = False,
                  plus1: int = 0, comments: int = 0, labels: tuple[str, ...] = ()) -> dict:
        now = self.clock.iso()
        issue = {
            "id": 1000 + number, "number": number, "title": title, "body": body,
            "state": "open", "state_reason": None,
            "labels": [{"name": name} for name in labels],
            "user": {"login": user, "type": "Bot" if bot else "User"},
            "comments": comments, "created_at": now, "updated_at": now,
            "html_url": f"https://github.com/{repo}/issues/{number}",
            "reactions": {"total_count": plus1, "+1": plus1, "-1": 0},
        }
        if pull_request:
            issue["pull_request"] = {"url": f"https://api.github.com/repos/{repo}/pulls/{number}"}
        self.issues.setdefault(repo, {})[number] = issue
        return issue

    def edit(self, repo: str, number: int, **changes: Any) -> None:
        with self.lock:
            self.issues[repo][number].update(changes, updated_at=self.clock.iso())

    def delete(self, repo: str, number: int) -> None:
        with self.lock:
            del self.issues[repo][number]

    def primary_rate_limit(self, *, path: str | None = None) -> None:
        self.fail(403, {"message": "API rate limit exceeded", "documentation_url": DOCS},
                  headers={"x-ratelimit-remaining": "0",
                           "x-ratelimit-reset": str(int(time.time()) + 1)}, path=path)

    def rate_limit_body(self, retry_after: int) -> Any:
        return {"message": "You have exceeded a secondary rate limit", "documentation_url": DOCS}

    def unauthorized(self, request: Request) -> Response:
        return Response(401, {"message": "Bad credentials", "documentation_url": DOCS})

    def route(self, request: Request) -> Response:
        match = re.fullmatch(r"/repos/([^/]+/[^/]+)/issues", request.path)
        if request.method != "GET" or not match or match.group(1) not in self.issues:
            return Response(404, {"message": "Not Found", "documentation_url": DOCS})
        repo = match.group(1)
        issues = list(self.issues[repo].values())
        since = request.arg("since")
        if since:
            issues = [i for i in issues if i["updated_at"] >= since]
        key = "updated_at" if request.arg("sort") == "updated" else "created_at"
        issues.sort(key=lambda i: (i[key], i["number"]), reverse=request.arg("direction") != "asc")
        per_page = min(int(request.arg("per_page", "30")), 100)
        page = int(request.arg("page", "1"))
        chunk = issues[(page - 1) * per_page: page * per_page]
        self.served.extend(f"{repo}#{i['number']}" for i in chunk)
        last = max(1, -(-len(issues) // per_page))
        headers = {"x-ratelimit-remaining": "4999", "x-ratelimit-reset": "0"}
        if page < last:
            query = "&".join(f"{k}={v[0]}" for k, v in request.query.items() if k != "page")
            base = f"{self.url}{request.path}?{query}"
            headers["Link"] = (f'<{base}&page={page + 1}>; rel="next", '
                               f'<{base}&page={last}>; rel="last"')
        return Response(200, chunk, headers)


__all__ = ["GitHubEmulator"]
