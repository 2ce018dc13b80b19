"""Pagination strategies shared by every connector (after dlt's ``paginators.py``).

A :class:`Paginator` reads each page (``update_state``) and rewrites the request for the next one
(``update_request``) until ``has_next_page`` is false. :func:`paginate` drives any of them over any
``send`` function, so the httpx client and the Slack SDK share the same strategies.

* :class:`PageNumberPaginator` - ``?page=N`` (Discourse ``/latest.json``).
* :class:`CursorPaginator` - an opaque next cursor in the body, sent back as a query parameter or
  a JSON body field (Slack ``next_cursor``, Zendesk ``after_cursor``, Intercom ``starting_after``).
* :class:`LinkHeaderPaginator` - follow ``Link: <...>; rel="next"`` (GitHub).
* :class:`BeforeIdPaginator` - ``?before=<smallest id seen>`` over id-descending lists, stopping
  at a known id (Discourse ``/posts.json``).
* :class:`SincePaginator` - keyset paging over a list sorted by update time ascending: each
  request starts again at ``since=<newest update seen>`` (GitHub issues), so a record updated
  mid-walk, which moves to the end and shifts every later one a place back, loses nothing.
"""

from __future__ import annotations

import copy
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx


@dataclass
class PageRequest:
    """One request: ``path`` is relative to the client's base URL, or absolute."""

    path: str
    params: dict[str, Any] = field(default_factory=dict)
    json: dict[str, Any] | None = None
    method: str = "GET"


class Paginator(ABC):
    has_next_page: bool = True

    @abstractmethod
    def update_state(self, data: Any, response: httpx.Response | None = None) -> None:
        """Read a page: remember what the next request needs, or set ``has_next_page``."""
        raise NotImplementedError

    @abstractmethod
    def update_request(self, request: PageRequest) -> None:
        """Rewrite ``request`` in place to ask for the next page."""
        raise NotImplementedError


class PageNumberPaginator(Paginator):
    """``?page=start, start+1, ...`` while ``has_more(page)`` says another page exists."""

    def __init__(self, has_more: Callable[[Any], bool], *, param: str = "page", start: int = 1):
        self.has_more = has_more
        self.param = param
        self.page = start

    def update_state(self, data: Any, response: httpx.Response | None = None) -> None:
        self.has_next_page = bool(self.has_more(data))

    def update_request(self, request: PageRequest) -> None:
        self.page += 1
        request.params[self.param] = self.page


class CursorPaginator(Paginator):
    """An opaque cursor read from each page by ``next_cursor`` (None or "" ends the walk).

    Args:
        next_cursor: page -> the next cursor, or None at the end.
        param: where to send it; a dotted path (``pagination.starting_after``) into the JSON
            body when ``in_body`` is true, else a query parameter.
        drop: query parameters that only belong on the first request (Zendesk ``start_time``).
    """

    def __init__(
        self,
        next_cursor: Callable[[Any], str | None],
        *,
        param: str = "cursor",
        in_body: bool = False,
        drop: tuple[str, ...] = (),
    ) -> None:
        self.next_cursor = next_cursor
        self.param = param
        self.in_body = in_body
        self.drop = drop
        self.cursor: str | None = None

    def update_state(self, data: Any, response: httpx.Response | None = None) -> None:
        self.cursor = self.next_cursor(data) or None
        self.has_next_page = self.cursor is not None

    def update_request(self, request: PageRequest) -> None:
        for name in self.drop:
            request.params.pop(name, None)
        if not self.in_body:
            request.params[self.param] = self.cursor
            return
        body = request.json if request.json is not None else {}
        *parents, leaf = self.param.split(".")
        node = body
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = self.cursor
        request.json = body


class LinkHeaderPaginator(Paginator):
    """Follow the ``rel="next"`` URL of the ``Link`` header until there is none."""

    def __init__(self) -> None:
        self.next_url: str | None = None

    def update_state(self, data: Any, response: httpx.Response | None = None) -> None:
        self.next_url = response.links.get("next", {}).get("url") if response is not None else None
        self.has_next_page = self.next_url is not None

    def update_request(self, request: PageRequest) -> None:
        request.path = self.next_url or request.path
        request.params = {}  # the next URL carries every parameter


class BeforeIdPaginator(Paginator):
    """Id-descending lists: ask for ``before=<min id>`` until a short page or ``stop_at``.

    Args:
        items: page -> its records.
        page_size: the service's fixed page size; a shorter page is the last.
        stop_at: an id already seen (the cursor); reaching it ends the walk.
    """

    def __init__(
        self,
        items: Callable[[Any], list[dict]],
        *,
        param: str = "before",
        page_size: int = 50,
        stop_at: int | None = None,
        id_key: str = "id",
    ) -> None:
        self.items = items
        self.param = param
        self.page_size = page_size
        self.stop_at = stop_at
        self.id_key = id_key
        self.before: int | None = None

    def update_state(self, data: Any, response: httpx.Response | None = None) -> None:
        ids = [int(item[self.id_key]) for item in self.items(data)]
        self.before = min(ids) if ids else None
        reached = None not in (self.stop_at, self.before) and self.before <= self.stop_at
        self.has_next_page = len(ids) >= self.page_size and not reached

    def update_request(self, request: PageRequest) -> None:
        request.params[self.param] = self.before


class SincePaginator(Paginator):
    """``?since=<newest timestamp so far>&page=1``, with ``page`` only to step over a full page
    of equal timestamps.

    Page numbers over a list sorted by update time are unsafe: a record updated while the walk
    runs jumps to the end and shifts every later record one place back, so the first record of
    the next page slides onto the page already read and is never seen (and the cursor moves
    past it). Restarting at ``since`` re-reads only the boundary records (upserts); ``overlap``
    starts each request a little before the newest timestamp read (GitHub: one second, as
    whether its ``since`` is inclusive is not documented).

    Args:
        timestamp: record -> its ISO-8601 update time (``updated_at``).
        items: page -> its records.
        page_size: the page size asked for; a shorter page is the last.
        overlap: timestamp -> where the next request starts (a little before it).
        since: the ``since`` of the first request, if any.
    """

    def __init__(self, timestamp: Callable[[dict], str], *, items: Callable[[Any], list[dict]],
                 page_size: int, overlap: Callable[[str], str] = lambda ts: ts,
                 since: str | None = None, param: str = "since",
                 page_param: str = "page") -> None:
        self.timestamp = timestamp
        self.items = items
        self.page_size = page_size
        self.overlap = overlap
        self.param = param
        self.page_param = page_param
        self.since = since  # what the first request sent
        self.page = 1

    def update_state(self, data: Any, response: httpx.Response | None = None) -> None:
        records = self.items(data)
        self.has_next_page = len(records) >= self.page_size
        newest = max((self.timestamp(r) for r in records), default=None)
        start = self.overlap(newest) if newest else None
        if start is not None and (self.since is None or start > self.since):
            self.since, self.page = start, 1
        else:  # a whole page at (or before) the same second: step over it
            self.page += 1

    def update_request(self, request: PageRequest) -> None:
        if self.since is not None:
            request.params[self.param] = self.since
        request.params[self.page_param] = self.page


def paginate(
    send: Callable[[PageRequest], tuple[Any, httpx.Response | None]],
    request: PageRequest,
    paginator: Paginator,
) -> Iterator[Any]:
    """Yield each page's data: ``send`` the request, let ``paginator`` read it, ask for the next."""
    request = copy.deepcopy(request)
    while True:
        data, response = send(request)
        paginator.update_state(data, response)
        yield data
        if not paginator.has_next_page:
            return
        paginator.update_request(request)


__all__ = [
    "BeforeIdPaginator",
    "CursorPaginator",
    "LinkHeaderPaginator",
    "PageNumberPaginator",
    "PageRequest",
    "Paginator",
    "SincePaginator",
    "paginate",
]
