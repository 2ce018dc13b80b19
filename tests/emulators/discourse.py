"""Discourse emulator: ``/latest.json``, ``/posts.json``, ``/t/{id}.json``, ``/t/{id}/posts.json``.

Follows API-NOTES §1: ``Api-Key``/``Api-Username`` headers (403 ``invalid_access`` otherwise),
``/latest`` in bumped order with ``more_topics_url`` only on a full page, ``/posts.json`` id
descending, 50 a page, ``before=``; topic views with the first ``chunk_size`` posts and the full
``stream`` of ids. Editing a post bumps its topic only when it is the topic's last post, like
``PostRevisor``; deleting sets ``deleted_at`` (an admin still sees the post). 429 bodies carry
``error_type: rate_limit`` and ``extras.wait_seconds``.
"""

from __future__ import annotations

import re
from typing import Any

from .clock import Clock
from .httpserver import Emulator, Request, Response

NOT_FOUND = {"errors": ["The requested URL or resource could not be found."],
             "error_type": "not_found"}


class DiscourseEmulator(Emulator):
    def __init__(self, api_key: str = "dc-test-key", api_username: str = "system",
                 chunk_size: int = 20) -> None:
        super().__init__(api_key)
        self.api_username = api_username
        self.chunk_size = chunk_size
        self.clock = Clock()
        self.topics: dict[int, dict[str, Any]] = {}
        self.posts: dict[int, dict[str, Any]] = {}
        self._next_post = 100

    def add_topic(self, topic_id: int, title: str, body: str, *, user: str = "alice",
                  tags: tuple[str, ...] = (), category_id: int = 5, pinned: bool = False) -> int:
        now = self.clock.iso(ms=True)
        self.topics[topic_id] = {
            "id": topic_id, "title": title, "slug": re.sub(r"\W+", "-", title.lower()).strip("-"),
            "category_id": category_id, "tags": list(tags), "created_at": now, "bumped_at": now,
            "last_posted_at": now, "pinned": pinned, "deleted_at": None, "like_count": 0,
        }
        return self.reply(topic_id, body, user=user)

    def reply(self, topic_id: int, body: str, *, user: str = "bob", likes: int = 0,
              user_id: int = 7) -> int:
        with self.lock:
            now = self.clock.iso(ms=True)
            self._next_post += 1
            number = 1 + sum(1 for p in self.posts.values() if p["topic_id"] == topic_id)
            self.posts[self._next_post] = {
                "id": self._next_post, "topic_id": topic_id, "post_number": number,
                "post_type": 1, "username": user, "user_id": user_id, "created_at": now,
                "updated_at": now, "raw": body, "cooked": f"<p>{body}</p>", "version": 1,
                "deleted_at": None, "reply_to_post_number": None if number == 1 else 1,
                "actions_summary": [{"id": 2, "count": likes}] if likes else [],
            }
            self.topics[topic_id].update(bumped_at=now, last_posted_at=now)
            return self._next_post

    def _topic_posts(self, topic_id: int) -> list[dict[str, Any]]:
        return sorted((p for p in self.posts.values() if p["topic_id"] == topic_id),
                      key=lambda p: p["post_number"])

    def edit_post(self, post_id: int, body: str) -> None:
        with self.lock:
            post = self.posts[post_id]
            now = self.clock.iso(ms=True)
            post.update(raw=body, cooked=f"<p>{body}</p>", updated_at=now,
                        version=post["version"] + 1)
            if self._topic_posts(post["topic_id"])[-1]["id"] == post_id:
                self.topics[post["topic_id"]]["bumped_at"] = now

    def delete_post(self, post_id: int) -> None:
        with self.lock:
            self.posts[post_id]["deleted_at"] = self.clock.iso(ms=True)

    def authorized(self, request: Request) -> bool:
        return (request.headers.get("api-key") == self.token
                and request.headers.get("api-username") == self.api_username)

    def unauthorized(self, request: Request) -> Response:
        return Response(403, {"errors": ["You are not permitted to view the requested resource. "
                                         "The API username or key is invalid."],
                              "error_type": "invalid_access"})

    def rate_limit_body(self, retry_after: int) -> Any:
        return {"errors": ["You've performed this action too many times."],
                "error_type": "rate_limit",
                "extras": {"wait_seconds": retry_after, "time_left": f"{retry_after} seconds"}}

    def route(self, request: Request) -> Response:
        path = request.path
        if path == "/latest.json":
            return self._latest(request)
        if path == "/posts.json":
            return self._latest_posts(request)
        match = re.fullmatch(r"/t/(\d+)(/posts)?\.json", path)
        if not match or int(match.group(1)) not in self.topics:
            return Response(404, NOT_FOUND)
        topic = self.topics[int(match.group(1))]
        posts = self._topic_posts(topic["id"])
        if match.group(2):
            wanted = {int(i) for i in request.query.get("post_ids[]", [])}
            chunk = [p for p in posts if p["id"] in wanted]
            self.served.extend(str(p["id"]) for p in chunk)
            return Response(200, {"post_stream": {"posts": chunk}})
        chunk = posts[: self.chunk_size]
        self.served.extend(str(p["id"]) for p in chunk)
        return Response(200, {**topic, "posts_count": len(posts),
                              "post_stream": {"posts": chunk, "stream": [p["id"] for p in posts]}})

    def _latest(self, request: Request) -> Response:
        per_page = min(int(request.arg("per_page", "30")), 100)
        page = int(request.arg("page", "0"))
        topics = list(self.topics.values())
        pinned = [t for t in topics if t["pinned"]]
        rest = sorted((t for t in topics if not t["pinned"]), key=lambda t: t["bumped_at"],
                      reverse=True)
        ordered = pinned + rest
        chunk = ordered[page * per_page:(page + 1) * per_page]
        topic_list: dict[str, Any] = {"per_page": per_page, "topics": chunk}
        if len(chunk) == per_page:
            topic_list["more_topics_url"] = f"/latest?page={page + 1}"
        return Response(200, {"topic_list": topic_list, "users": []})

    def _latest_posts(self, request: Request) -> Response:
        before = request.arg("before")
        posts = sorted((p for p in self.posts.values()
                        if p["post_type"] == 1 and not p["deleted_at"]
                        and (before is None or p["id"] < int(before))),
                       key=lambda p: p["id"], reverse=True)[:50]
        return Response(200, {"latest_posts": [
            {**p, "topic_title": self.topics[p["topic_id"]]["title"],
             "category_id": self.topics[p["topic_id"]]["category_id"]} for p in posts]})


__all__ = ["DiscourseEmulator"]
