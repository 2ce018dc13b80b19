"""Discourse emulator: ``/latest.json``, ``/posts.json``, ``/t/{id}.json``, ``/t/{id}/posts.json``.

Follows API-NOTES §1: ``Api-Key``/``Api-Username`` headers (403 ``invalid_access`` otherwise),
``/latest`` in bumped order with ``more_topics_url`` only on a full page, ``/posts.json`` id
descending, 50 a page, ``before=``; topic views with the first ``chunk_size`` posts and the full
``stream`` of ids. Editing a post bumps its topic only when it is the topic's last post, like
``PostRevisor``; deleting sets ``deleted_at`` (an admin still sees the post). 429 bodies carry
``error_type: rate_limit`` and ``extras.wait_seconds``.

Shapes follow Discourse's OpenAPI description (``../shared/contracts/discourse``): topic views
carry ``tags`` as ``{id, name, slug}`` objects (since February 2026) and posts with ``cooked``
HTML only (no ``raw``), whose ``actions_summary`` items are ``{id, can_act}`` without counts;
``/posts.json`` and ``/posts/{id}.json`` add ``raw``, and only ``/posts/{id}.json`` carries the
like ``count``. ``tags_as_strings=True`` serves the pre-2026 string tags.
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
                 chunk_size: int = 20, *, tags_as_strings: bool = False) -> None:
        super().__init__(api_key)
        self.tags_as_strings = tags_as_strings
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
              user_id: int = 7, staff: bool = False, group: str | None = None,
              reply_to: int | None = None) -> int:
        with self.lock:
            now = self.clock.iso(ms=True)
            self._next_post += 1
            number = 1 + sum(1 for p in self.posts.values() if p["topic_id"] == topic_id)
            self.posts[self._next_post] = {
                "id": self._next_post, "topic_id": topic_id, "post_number": number,
                "post_type": 1, "username": user, "user_id": user_id, "created_at": now,
                "updated_at": now, "raw": body, "cooked": f"<p>{body}</p>", "version": 1,
                "deleted_at": None,
                "reply_to_post_number": None if number == 1 else (reply_to or 1),
                "likes": likes, "staff": staff, "group": group,
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
        if (single := re.fullmatch(r"/posts/(\d+)\.json", path)) is not None:
            post = self.posts.get(int(single.group(1)))
            if post is None:
                return Response(404, NOT_FOUND)
            topic = self.topics[post["topic_id"]]
            return Response(200, {**self._post_view(post, topic), "raw": post["raw"],
                                  "posts_count": self._posts_count(topic["id"]),
                                  "reviewable_id": None, "post_url": self._post_url(post, topic),
                                  "actions_summary": self._actions(post, counts=True)})
        match = re.fullmatch(r"/t/(\d+)(/posts)?\.json", path)
        if not match or int(match.group(1)) not in self.topics:
            return Response(404, NOT_FOUND)
        topic = self.topics[int(match.group(1))]
        posts = self._topic_posts(topic["id"])
        if match.group(2):
            wanted = {int(i) for i in request.query.get("post_ids[]", [])}
            chunk = [p for p in posts if p["id"] in wanted]
            self.served.extend(str(p["id"]) for p in chunk)
            return Response(200, {"post_stream": {
                "posts": [self._post_view(p, topic) for p in chunk]}})
        chunk = posts[: self.chunk_size]
        self.served.extend(str(p["id"]) for p in chunk)
        return Response(200, self._topic_view(topic, posts, chunk))

    def _tags(self, topic: dict[str, Any]) -> list[Any]:
        if self.tags_as_strings:
            return list(topic["tags"])
        return [{"id": 1 + sorted(self._all_tags()).index(name), "name": name,
                 "slug": re.sub(r"\W+", "-", name.lower())} for name in topic["tags"]]

    def _all_tags(self) -> set[str]:
        return {name for t in self.topics.values() for name in t["tags"]}

    def _posts_count(self, topic_id: int) -> int:
        return sum(1 for p in self.posts.values() if p["topic_id"] == topic_id)

    def _post_url(self, post: dict[str, Any], topic: dict[str, Any]) -> str:
        return f"/t/{topic['slug']}/{topic['id']}/{post['post_number']}"

    @staticmethod
    def _actions(post: dict[str, Any], *, counts: bool = False) -> list[dict[str, Any]]:
        if not post["likes"]:
            return []
        like: dict[str, Any] = {"id": 2, "can_act": True}
        if counts:  # only /posts/{id}.json carries the count
            like["count"] = post["likes"]
        return [like]

    def _post_view(self, post: dict[str, Any], topic: dict[str, Any]) -> dict[str, Any]:
        """A post as a topic view serialises it: ``cooked`` HTML, no ``raw``, no like counts."""
        user = post["username"]
        return {
            "id": post["id"], "name": user, "username": user,
            "avatar_template": f"/user_avatar/forum/{user}/{{size}}/1.png",
            "created_at": post["created_at"], "cooked": post["cooked"],
            "post_number": post["post_number"], "post_type": post["post_type"],
            "updated_at": post["updated_at"], "reply_count": 0,
            "reply_to_post_number": post["reply_to_post_number"], "quote_count": 0,
            "incoming_link_count": 0, "reads": 1, "readers_count": 0, "score": 0.2,
            "yours": False, "topic_id": topic["id"], "topic_slug": topic["slug"],
            "display_username": user, "primary_group_name": post.get("group"),
            "flair_name": None,
            "flair_url": None, "flair_bg_color": None, "flair_color": None,
            "version": post["version"], "can_edit": True, "can_delete": True,
            "can_recover": True, "can_wiki": True, "link_counts": [], "read": True,
            "user_title": None, "bookmarked": False, "actions_summary": self._actions(post),
            "moderator": False, "admin": post.get("staff", False),
            "staff": post.get("staff", False), "user_id": post["user_id"],
            "hidden": False, "trust_level": 1, "deleted_at": post["deleted_at"],
            "user_deleted": False, "edit_reason": None, "can_view_edit_history": True,
            "wiki": False, "reviewable_id": 0, "reviewable_score_count": 0,
            "reviewable_score_pending_count": 0,
        }

    def _topic_view(self, topic: dict[str, Any], posts: list[dict[str, Any]],
                    chunk: list[dict[str, Any]]) -> dict[str, Any]:
        first = posts[0] if posts else None
        return {
            "post_stream": {"posts": [self._post_view(p, topic) for p in chunk],
                            "stream": [p["id"] for p in posts]},
            "timeline_lookup": [], "suggested_topics": [], "tags": self._tags(topic),
            "tags_descriptions": {}, "id": topic["id"], "title": topic["title"],
            "fancy_title": topic["title"], "posts_count": len(posts),
            "created_at": topic["created_at"], "views": 10, "reply_count": max(0, len(posts) - 1),
            "like_count": sum(p["likes"] for p in posts),
            "last_posted_at": topic["last_posted_at"], "visible": True, "closed": False,
            "archived": False, "has_summary": False, "archetype": "regular",
            "slug": topic["slug"], "category_id": topic["category_id"], "word_count": None,
            "deleted_at": topic["deleted_at"], "user_id": first["user_id"] if first else 1,
            "featured_link": None, "pinned_globally": False, "pinned_at": None,
            "pinned_until": None, "image_url": None, "slow_mode_seconds": 0, "draft": None,
            "draft_key": f"topic_{topic['id']}", "draft_sequence": 0, "unpinned": None,
            "pinned": topic["pinned"], "highest_post_number": len(posts), "deleted_by": None,
            "has_deleted": any(p["deleted_at"] for p in posts), "actions_summary": [],
            "chunk_size": self.chunk_size, "bookmarked": False, "bookmarks": [],
            "topic_timer": None, "message_bus_last_id": 0,
            "participant_count": len({p["username"] for p in posts}),
            "show_read_indicator": False, "thumbnails": None, "slow_mode_enabled_until": None,
            "details": {
                "can_edit": True, "notification_level": 1, "participants": [],
                **dict.fromkeys(("can_move_posts", "can_delete", "can_remove_allowed_users",
                                 "can_create_post", "can_reply_as_new_topic", "can_convert_topic",
                                 "can_review_topic", "can_close_topic", "can_archive_topic",
                                 "can_split_merge_topic", "can_edit_staff_notes",
                                 "can_toggle_topic_visibility", "can_pin_unpin_topic",
                                 "can_moderate_category"), True),
                "can_remove_self_id": 1,
                "created_by": self._user(first), "last_poster": self._user(posts[-1] if posts
                                                                           else None)},
        }

    @staticmethod
    def _user(post: dict[str, Any] | None) -> dict[str, Any]:
        name = post["username"] if post else "system"
        return {"id": post["user_id"] if post else -1, "username": name, "name": name,
                "avatar_template": f"/user_avatar/forum/{name}/{{size}}/1.png"}

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
        return Response(200, {"latest_posts": [self._latest_post(p) for p in posts]})

    def _latest_post(self, post: dict[str, Any]) -> dict[str, Any]:
        topic = self.topics[post["topic_id"]]
        view = self._post_view(post, topic)
        del view["link_counts"], view["read"]
        return {**view, "raw": post["raw"], "posts_count": self._posts_count(topic["id"]),
                "topic_title": topic["title"], "topic_html_title": topic["title"],
                "category_id": topic["category_id"], "flair_group_id": None,
                "badges_granted": [], "can_see_hidden_post": True,
                "excerpt": post["raw"][:100], "truncated": len(post["raw"]) > 100,
                "reviewable_id": None, "post_url": self._post_url(post, topic)}


__all__ = ["DiscourseEmulator"]
