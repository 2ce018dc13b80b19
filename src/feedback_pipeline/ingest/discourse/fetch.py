"""Discourse: topics and posts changed since the cursor, with a bounded re-scan for edits.

Discourse has no "changed since" query, and editing a post other than a topic's last one does
not bump the topic in ``/latest``. Each run therefore:

1. walks ``/posts.json`` newest-first (``before=<id>``) down to the last post id seen, to find
   the topics that got new posts (this also covers topics beyond the re-scan bound);
2. walks ``/latest.json`` (bumped order) down to ``watermark - rescan_days``: the *re-scan
   window* of topics that were active recently enough that an edit is worth looking for;
3. reads each of those topics (``/t/{id}.json`` plus ``/t/{id}/posts.json`` for the posts beyond
   the first chunk), at most ``max_rescan_topics`` of the window, and keeps the posts whose
   ``updated_at``/``deleted_at`` is newer than the watermark: new posts, edits and deletions;
4. reads ``/posts/{id}.json`` for each of those posts (not deleted): topic views carry no like
   counts, so this is where ``votes`` come from (one request per changed post).

Edits to posts in topics quiet for longer than ``rescan_days`` are not seen (set it higher, or
re-import). Rows are committed one topic at a time; the cursor (last post id, newest change
time) only with the final batch, because neither walk is in ascending order.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

from feedback_pipeline.ingest.connector import (
    ConnectorSource,
    dump_cursor,
    env_hint,
    load_cursor,
    to_batch,
)
from feedback_pipeline.ingest.discourse.config import DiscourseSourceConfig
from feedback_pipeline.ingest.discourse.mapping import (
    changed_at,
    like_count,
    map_topic,
    posts_to_map,
)
from feedback_pipeline.ingest.http import Credential, HttpClient
from feedback_pipeline.ingest.paginate import BeforeIdPaginator, PageNumberPaginator, PageRequest
from feedback_pipeline.ingest.source import Batch
from feedback_pipeline.records import parse_timestamp
from feedback_pipeline.secrets import resolve_secret

CHUNK = 20  # post ids per /t/{id}/posts.json call


def fetch_new_post_pages(
    client: HttpClient, *, after_id: int, page_size: int
) -> Iterator[list[dict[str, Any]]]:
    """Yield pages of ``/posts.json`` (id descending) until reaching ``after_id``."""
    paginator = BeforeIdPaginator(lambda d: d.get("latest_posts") or [], page_size=page_size,
                                  stop_at=after_id)
    for page in client.pages(PageRequest("/posts.json"), paginator):
        yield [p for p in page.get("latest_posts") or [] if int(p["id"]) > after_id]


def fetch_latest_pages(client: HttpClient, *, per_page: int) -> Iterator[list[dict[str, Any]]]:
    """Yield pages of ``/latest.json`` topics (most recently bumped first)."""
    paginator = PageNumberPaginator(lambda d: bool(d["topic_list"].get("more_topics_url")),
                                    start=0)
    request = PageRequest("/latest.json", {"per_page": per_page})
    for page in client.pages(request, paginator):
        yield page["topic_list"].get("topics") or []


def fetch_topic(client: HttpClient, topic_id: int) -> tuple[dict[str, Any], list[dict]] | None:
    """A topic and all its posts, or None when the topic is gone (404/410)."""
    topic = client.get_json(f"/t/{topic_id}.json", missing_ok=True)
    if topic is None:
        return None
    stream = topic.get("post_stream") or {}
    posts = list(stream.get("posts") or [])
    have = {p["id"] for p in posts}
    rest = [i for i in stream.get("stream") or [] if i not in have]
    for start in range(0, len(rest), CHUNK):
        more = client.get_json(f"/t/{topic_id}/posts.json",
                               **{"post_ids[]": rest[start:start + CHUNK]})
        posts.extend((more.get("post_stream") or {}).get("posts") or [])
    return topic, posts


def fetch_likes(client: HttpClient, posts: list[dict[str, Any]]) -> dict[int, int]:
    """Post id -> likes, from ``/posts/{id}.json`` (a post gone since is left out)."""
    likes = {}
    for post in posts:
        if post.get("deleted_at"):
            continue
        detail = client.get_json(f"/posts/{int(post['id'])}.json", missing_ok=True)
        if detail is not None:
            likes[int(post["id"])] = like_count(detail)
    return likes


class DiscourseSource(ConnectorSource):
    settings: DiscourseSourceConfig

    def credential(self) -> Credential:
        s = self.settings
        if not s.api_key_env:
            return Credential(hint=f"that the forum allows anonymous reads (source '{self.name}')")
        key = resolve_secret(s.api_key_env, what=f"the API key of source '{self.name}'")
        return Credential(
            headers={"Api-Key": key.get_secret_value(), "Api-Username": s.api_username},
            secrets=(key.get_secret_value(),),
            hint=env_hint(self.name, s.api_key_env, "api_key_env") + " and `api_username`",
        )

    def _topics_to_read(self, client: HttpClient, state: dict[str, Any]) -> tuple[list[int], int]:
        s = self.settings
        last_id = int(state.get("last_post_id") or 0)
        newest_id = last_id
        wanted: dict[int, None] = {}
        if last_id:
            for page in fetch_new_post_pages(client, after_id=last_id,
                                             page_size=s.posts_page_size):
                for post in page:
                    wanted.setdefault(int(post["topic_id"]))
                    newest_id = max(newest_id, int(post["id"]))
        cutoff = None
        if state.get("watermark"):
            cutoff = parse_timestamp(state["watermark"], "watermark")
            cutoff -= timedelta(days=s.rescan_days)
        window = 0
        for topics in fetch_latest_pages(client, per_page=s.latest_page_size):
            for topic in topics:
                bumped = parse_timestamp(topic.get("bumped_at") or topic["created_at"], "bumped_at")
                if cutoff is not None and bumped < cutoff:
                    if topic.get("pinned"):
                        continue
                    return list(wanted), newest_id
                if cutoff is not None and window >= s.max_rescan_topics:
                    return list(wanted), newest_id
                window += 1
                wanted.setdefault(int(topic["id"]))
        return list(wanted), newest_id

    def fetch(self, cursor: str | None) -> Iterator[Batch]:
        state = load_cursor(cursor)
        watermark: str | None = state.get("watermark")
        newest_change = watermark or ""
        client = self.client()
        try:
            topic_ids, newest_id = self._topics_to_read(client, state)
            for topic_id in topic_ids:
                found = fetch_topic(client, topic_id)
                if found is None:
                    continue
                topic, posts = found
                for post in posts:
                    newest_id = max(newest_id, int(post["id"]))
                    newest_change = max(newest_change, changed_at(post))
                likes = fetch_likes(client, posts_to_map(posts, watermark))
                yield to_batch(map_topic(topic, posts, source=self.name,
                                         base_url=self.settings.base_url,
                                         changed_after=watermark,
                                         max_body_chars=self.max_body_chars, likes=likes,
                                         staff_groups=frozenset(self.settings.staff_groups)))
        finally:
            client.close()
        yield Batch(cursor=dump_cursor({"last_post_id": newest_id,
                                        "watermark": newest_change or None}))


__all__ = ["DiscourseSource", "fetch_latest_pages", "fetch_likes", "fetch_new_post_pages",
           "fetch_topic"]
