"""The shared HTTP machinery: wait hints, redaction, pagination strategies."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from feedback_pipeline.ingest.http import hinted_wait, redact
from feedback_pipeline.ingest.paginate import (
    BeforeIdPaginator,
    CursorPaginator,
    LinkHeaderPaginator,
    PageNumberPaginator,
    PageRequest,
    SincePaginator,
    paginate,
)

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"Retry-After": "3"}, 3.0),
        ({"Retry-After": format_datetime(NOW + timedelta(seconds=7), usegmt=True)}, 7.0),
        ({"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(int(NOW.timestamp()) + 9)}, 9.0),
        ({"x-ratelimit-remaining": "10", "x-ratelimit-reset": "1"}, None),
        ({}, None),
    ],
    ids=["seconds", "http-date", "github-reset", "not-exhausted", "no-hint"],
)
def test_hinted_wait(headers, expected):
    response = httpx.Response(429, headers=headers)
    assert hinted_wait(response, now=NOW.timestamp()) == expected


def test_redact_longest_first():
    assert redact("Basic abc123 and abc", ["abc", "abc123"]) == "Basic *** and ***"


def _drive(pages, paginator, request=None):
    sent: list[PageRequest] = []

    def send(req):
        sent.append(copy.deepcopy(req))
        return pages[len(sent) - 1]

    data = list(paginate(send, request or PageRequest("/x"), paginator))
    return data, sent


def test_page_number():
    pages = [({"more": True}, None), ({"more": False}, None)]
    _, sent = _drive(pages, PageNumberPaginator(lambda d: d["more"], start=0))
    assert [r.params for r in sent] == [{}, {"page": 1}]


def test_cursor_in_query_drops_first_only_params():
    pages = [({"c": "A"}, None), ({"c": None}, None)]
    _, sent = _drive(pages, CursorPaginator(lambda d: d["c"], drop=("start_time",)),
                     PageRequest("/x", {"start_time": 5}))
    assert [r.params for r in sent] == [{"start_time": 5}, {"cursor": "A"}]


def test_cursor_in_json_body():
    pages = [({"c": "A"}, None), ({"c": ""}, None)]
    _, sent = _drive(pages, CursorPaginator(lambda d: d["c"], param="p.after", in_body=True),
                     PageRequest("/x", json={"p": {"n": 2}}))
    assert [r.json for r in sent] == [{"p": {"n": 2}}, {"p": {"n": 2, "after": "A"}}]


def test_link_header():
    first = httpx.Response(200, headers={"Link": '<http://h/x?page=2>; rel="next"'})
    _, sent = _drive([([], first), ([], httpx.Response(200))], LinkHeaderPaginator(),
                     PageRequest("/x", {"per_page": 2}))
    assert [(r.path, r.params) for r in sent] == [
        ("/x", {"per_page": 2}), ("http://h/x?page=2", {})]


def test_before_id_stops_at_the_known_id():
    pages = [({"items": [{"id": 9}, {"id": 8}]}, None), ({"items": [{"id": 7}, {"id": 6}]}, None)]
    _, sent = _drive(pages, BeforeIdPaginator(lambda d: d["items"], page_size=2, stop_at=7))
    assert [r.params for r in sent] == [{}, {"before": 8}]


def test_since_paginator_restarts_at_the_newest_timestamp_and_steps_over_ties():
    # Records sorted by "t" ascending; three share t=5, more than a page of 2.
    records = [{"id": i, "t": t} for i, t in enumerate([1, 2, 5, 5, 5, 7, 9])]
    sent: list[dict] = []

    def send(request: PageRequest):
        sent.append(dict(request.params))
        since, page = request.params.get("since", 0), request.params.get("page", 1)
        hits = [r for r in records if r["t"] >= since]
        return hits[(page - 1) * 2: page * 2], None

    paginator = SincePaginator(lambda r: r["t"], items=lambda page: page, page_size=2,
                               overlap=lambda t: t)
    seen = [r["id"] for page in paginate(send, PageRequest("/x"), paginator) for r in page]

    assert set(seen) == set(range(7))
    assert sent == [{}, {"since": 2, "page": 1}, {"since": 5, "page": 1}, {"since": 5, "page": 2},
                    {"since": 7, "page": 1}, {"since": 9, "page": 1}]
