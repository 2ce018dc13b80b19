"""GitHub REST emulator: ``GET /repos/{owner}/{repo}/issues`` (API-NOTES §5) and an issue's
comments, ``GET /repos/{owner}/{repo}/issues/{n}/comments`` (ascending id, ``since`` on
``updated_at``, ``per_page`` up to 100, ``Link`` paging; 404 for an unknown issue).

``state``/``sort=updated``/``direction``/``since`` (inclusive)/``per_page``/``page``, a ``Link``
header with ``next``/``last``, PRs mixed in (with a ``pull_request`` key), 401 ``Bad
credentials``, and GitHub's rate limits: 429 + ``Retry-After`` or 403 with
``x-ratelimit-remaining: 0`` and ``x-ratelimit-reset``.

``POST /graphql`` answers the Discussions query the connector sends
(``repository(owner,name){discussions(first,after,orderBy:{field:UPDATED_AT,direction:DESC})``
with ``nodes`` and ``pageInfo{hasNextPage endCursor}``), reading ``owner``/``name``/``first``/
``cursor`` from ``variables``; an unknown repository answers 200 with GraphQL ``errors``
(``NOT_FOUND``) and ``data.repository: null``, as GitHub does.

Limits as GitHub's docs describe them: ``secondary_rate_limit()`` answers 403 with a message,
no ``retry-after`` and ``x-ratelimit-remaining`` above 0; ``graphql_rate_limit()`` answers HTTP
200 with ``errors`` (``RATE_LIMITED``), ``x-ratelimit-remaining: 0`` and ``x-ratelimit-reset``.
``label_strings=True`` serves labels as plain strings (the description allows both), and
``after_page(n, action)`` runs ``action`` once the ``n``-th issues page has been served (an issue
updated while a client walks the list).
"""

from __future__ import annotations

import base64
import copy
import re
import time
from collections.abc import Callable
from typing import Any

from .clock import Clock
from .httpserver import Emulator, Request, Response

DOCS = "https://docs.github.com/rest"


class GitHubEmulator(Emulator):
    def __init__(self, token: str = "ghp_test-token", *, label_strings: bool = False) -> None:
        super().__init__(token)
        self.label_strings = label_strings
        self._after_page: dict[int, Callable[[], None]] = {}
        self._pages_served = 0
        self.clock = Clock()
        self.issues: dict[str, dict[int, dict[str, Any]]] = {}
        self.discussions: dict[str, dict[int, dict[str, Any]]] = {}
        self.comments: dict[tuple[str, int], list[dict[str, Any]]] = {}
        self._next_comment_id = 5000

    def add_issue(self, repo: str, number: int, title: str, body: str = "", *,
                  user: str = "octocat", bot: bool = False, pull_request: bool = False,
                  plus1: int = 0, comments: int = 0, labels: tuple[str, ...] = (),
                  association: str = "NONE") -> dict:
        now = self.clock.iso()
        api = f"https://api.github.com/repos/{repo}/issues/{number}"
        issue = {
            "id": 1000 + number, "node_id": f"I_kw{number:04d}", "url": api,
            "repository_url": f"https://api.github.com/repos/{repo}",
            "labels_url": f"{api}/labels{{/name}}", "comments_url": f"{api}/comments",
            "events_url": f"{api}/events", "number": number, "title": title, "body": body,
            "state": "open", "state_reason": None,
            "labels": list(labels) if self.label_strings else [
                {"id": 1 + i, "name": name, "color": "d73a4a", "default": False}
                for i, name in enumerate(labels)],
            "user": {"login": user, "type": "Bot" if bot else "User"},
            "assignee": None, "milestone": None, "locked": False, "closed_at": None,
            "author_association": association,
            "comments": comments, "created_at": now, "updated_at": now,
            "html_url": f"https://github.com/{repo}/issues/{number}",
            "reactions": {"total_count": plus1, "+1": plus1, "-1": 0},
        }
        if pull_request:
            issue["pull_request"] = {"url": f"https://api.github.com/repos/{repo}/pulls/{number}"}
        self.issues.setdefault(repo, {})[number] = issue
        return issue

    def add_comment(self, repo: str, number: int, body: str = "", *, user: str = "octocat",
                    bot: bool = False, association: str = "NONE") -> dict:
        """A comment on an issue: as on GitHub, it moves the issue's ``updated_at`` and
        ``comments`` count."""
        with self.lock:
            now = self.clock.iso()
            self._next_comment_id += 1
            cid = self._next_comment_id
            issue = self.issues[repo][number]
            comment = {
                "id": cid, "node_id": f"IC_kw{cid}", "url": f"{issue['url']}/comments/{cid}",
                "html_url": f"{issue['html_url']}#issuecomment-{cid}", "body": body,
                "user": {"login": user, "type": "Bot" if bot else "User"},
                "created_at": now, "updated_at": now, "issue_url": issue["url"],
                "author_association": association,
                "reactions": {"total_count": 0, "+1": 0, "-1": 0},
            }
            self.comments.setdefault((repo, number), []).append(comment)
            issue.update(comments=issue["comments"] + 1, updated_at=now)
            return comment

    def add_discussion(self, repo: str, number: int, title: str, body: str = "", *,
                       user: str = "octocat", bot: bool = False, upvotes: int = 0,
                       comments: int = 0, category: str = "Ideas",
                       association: str = "NONE") -> dict:
        now = self.clock.iso()
        node = {
            "id": f"D_kw{number:04d}", "number": number, "title": title, "body": body,
            "url": f"https://github.com/{repo}/discussions/{number}",
            "createdAt": now, "updatedAt": now,
            "author": {"__typename": "Bot" if bot else "User", "login": user},
            "authorAssociation": association, "upvoteCount": upvotes, "comments": {"totalCount": comments},
            "category": {"name": category},
        }
        self.discussions.setdefault(repo, {})[number] = node
        return node

    def edit_discussion(self, repo: str, number: int, **changes: Any) -> None:
        with self.lock:
            self.discussions[repo][number].update(changes, updatedAt=self.clock.iso())

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

    def secondary_rate_limit(self, *, path: str | None = None) -> None:
        """403 without retry-after while the primary budget is left (GitHub: wait >= 1 min)."""
        self.fail(403, {"message": "You have exceeded a secondary rate limit. Please wait a few "
                        "minutes before you try again.", "documentation_url": DOCS},
                  headers={"x-ratelimit-remaining": "4321",
                           "x-ratelimit-reset": str(int(time.time()) + 3600)}, path=path)

    def graphql_rate_limit(self, reset_in: int = 1) -> None:
        """GraphQL's primary limit: HTTP 200, ``errors``, remaining 0, wait for the reset."""
        self.fail(200, {"errors": [{"type": "RATE_LIMITED",
                                    "message": "API rate limit exceeded for user ID 1."}]},
                  headers={"x-ratelimit-remaining": "0", "x-ratelimit-used": "5000",
                           "x-ratelimit-reset": str(int(time.time()) + reset_in)},
                  path="/graphql")

    def after_page(self, n: int, action: Callable[[], None]) -> None:
        """Run ``action`` right after the ``n``-th issues page is served."""
        self._after_page[n] = action

    def rate_limit_body(self, retry_after: int) -> Any:
        return {"message": "You have exceeded a secondary rate limit", "documentation_url": DOCS}

    def unauthorized(self, request: Request) -> Response:
        return Response(401, {"message": "Bad credentials", "documentation_url": DOCS})

    def route(self, request: Request) -> Response:
        if request.path == "/graphql" and request.method == "POST":
            return self._graphql(request)
        comments = re.fullmatch(r"/repos/([^/]+/[^/]+)/issues/(\d+)/comments", request.path)
        if request.method == "GET" and comments:
            return self._comments(request, comments.group(1), int(comments.group(2)))
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
        chunk, headers = self._page(request, issues)
        self.served.extend(f"{repo}#{i['number']}" for i in chunk)
        self._pages_served += 1
        if (action := self._after_page.pop(self._pages_served, None)) is not None:
            action()
        return Response(200, chunk, headers)

    def _comments(self, request: Request, repo: str, number: int) -> Response:
        if number not in self.issues.get(repo, {}):
            return Response(404, {"message": "Not Found", "documentation_url": DOCS})
        listed = sorted(self.comments.get((repo, number), []), key=lambda c: c["id"])
        if since := request.arg("since"):
            listed = [c for c in listed if c["updated_at"] >= since]
        chunk, headers = self._page(request, listed)
        self.served.extend(f"{repo}#{number}/comments/{c['id']}" for c in chunk)
        return Response(200, chunk, headers)

    def _page(self, request: Request, rows: list[dict[str, Any]]) -> tuple[list, dict[str, str]]:
        """``per_page`` (at most 100) and ``page`` of ``rows``, with the ``Link`` header."""
        per_page = min(int(request.arg("per_page", "30")), 100)
        page = int(request.arg("page", "1"))
        chunk = copy.deepcopy(rows[(page - 1) * per_page: page * per_page])
        last = max(1, -(-len(rows) // per_page))
        headers = {"x-ratelimit-remaining": "4999", "x-ratelimit-reset": "0"}
        if page < last:
            query = "&".join(f"{k}={v[0]}" for k, v in request.query.items() if k != "page")
            base = f"{self.url}{request.path}?{query}"
            headers["Link"] = (f'<{base}&page={page + 1}>; rel="next", '
                               f'<{base}&page={last}>; rel="last"')
        return chunk, headers

    def _graphql(self, request: Request) -> Response:
        body = request.body if isinstance(request.body, dict) else {}
        query, variables = body.get("query") or "", body.get("variables") or {}
        if "discussions(" not in query or "orderBy: {field: UPDATED_AT, direction: DESC}" \
                not in query:
            return Response(200, {"errors": [{"message": "emulator: unsupported query"}]})
        repo = f"{variables.get('owner')}/{variables.get('name')}"
        if repo not in self.discussions and repo not in self.issues:
            return Response(200, {"data": {"repository": None}, "errors": [{
                "type": "NOT_FOUND", "path": ["repository"], "locations": [],
                "message": f"Could not resolve to a Repository with the name '{repo}'."}]})
        nodes = sorted(self.discussions.get(repo, {}).values(),
                       key=lambda d: (d["updatedAt"], d["number"]), reverse=True)
        first = min(int(variables.get("first") or 10), 100)
        after = variables.get("cursor")
        start = int(base64.b64decode(after).decode().split(":")[1]) if after else 0
        chunk = nodes[start:start + first]
        end = start + len(chunk)
        self.served.extend(f"{repo}/discussions/{d['number']}" for d in chunk)
        cursor = base64.b64encode(f"cursor:{end}".encode()).decode() if chunk else None
        return Response(200, {"data": {"repository": {"discussions": {
            "nodes": chunk,
            "pageInfo": {"hasNextPage": end < len(nodes), "endCursor": cursor},
        }}}})


__all__ = ["GitHubEmulator"]
