"""Zendesk public comments appended to the ticket body, against the emulator (real httpx)."""

from __future__ import annotations

import pytest
from emulators.zendesk import ZendeskEmulator

from feedback_pipeline.clean.text import PART_SEPARATOR, clean_text
from feedback_pipeline.ingest.zendesk.config import ZendeskSourceConfig
from feedback_pipeline.ingest.zendesk.fetch import ZendeskSource
from feedback_pipeline.ingest.zendesk.mapping import public_replies, with_replies

from .cases import FAST
from .conftest import rows, run

COMMENTS = "/api/v2/tickets/{}/comments.json"


@pytest.fixture
def emu(monkeypatch: pytest.MonkeyPatch):
    with ZendeskEmulator() as emulator:
        monkeypatch.setenv("FP_ZENDESK_TOKEN", emulator.token)
        yield emulator


def source(emu: ZendeskEmulator, **overrides) -> ZendeskSource:
    values = {"name": "zendesk", "base_url": emu.url, "email": emu.email, "page_size": 10,
              "comments_page_size": 2, **FAST, **overrides}
    return ZendeskSource(ZendeskSourceConfig(**values))


def comment_requests(emu: ZendeskEmulator, ticket_id: int) -> list:
    return [r for r in emu.requests if r.path == COMMENTS.format(ticket_id)]


def test_public_comments_are_appended_over_pages(emu, warehouse):
    emu.add_ticket(1, "Export fails", "The CSV export fails with a timeout.")
    emu.add_comment(1, "It still fails today.\n\nOn Mon, 3 Jun 2024, Support wrote:\n> Try again")
    emu.add_comment(1, "Internal: customer is on the legacy plan", public=False, author_id=7)
    emu.add_comment(1, "Our agent replied: we are looking into it.", author_id=7)
    emu.add_comment(1, "Any update? Export of 50k rows never finishes.\n--\nJane Doe\nAcme")
    assert run(warehouse, source(emu))["zendesk"].error is None

    (_, body, _), = rows(warehouse, "zendesk").values()
    assert body == PART_SEPARATOR.join([
        "The CSV export fails with a timeout.",
        "It still fails today.\n\nOn Mon, 3 Jun 2024, Support wrote:\n> Try again",
        "Our agent replied: we are looking into it.",
        "Any update? Export of 50k rows never finishes.\n--\nJane Doe\nAcme",
    ])
    # 5 comments (description + 4), 2 a page: page[after] follows meta.after_cursor
    calls = comment_requests(emu, 1)
    assert len(calls) == 3
    assert [r.query.get("page[after]") is None for r in calls] == [True, False, False]
    assert all(r.query["page[size]"] == ["2"] for r in calls)
    # the cleaner cuts the quote and the signature of each reply, keeping the later replies
    assert clean_text("Export fails", body) == (
        "Export fails\nThe CSV export fails with a timeout.\nIt still fails today.\n"
        "Our agent replied: we are looking into it.\n"
        "Any update? Export of 50k rows never finishes.")


def test_max_comments_bounds_body_and_requests(emu, warehouse):
    emu.add_ticket(1, "Export fails", "Description")
    for n in range(1, 8):
        emu.add_comment(1, f"Reply {n}")
    assert run(warehouse, source(emu, max_comments=2))["zendesk"].error is None
    (_, body, _), = rows(warehouse, "zendesk").values()
    assert body == PART_SEPARATOR.join(["Description", "Reply 1", "Reply 2"])
    assert len(comment_requests(emu, 1)) == 2  # stops paging once it has two replies


def test_max_comments_zero_reads_no_comments(emu, warehouse):
    emu.add_ticket(1, "Export fails", "Description")
    emu.add_comment(1, "Reply 1")
    run(warehouse, source(emu, max_comments=0))
    assert rows(warehouse, "zendesk")["1"][1] == "Description"
    assert comment_requests(emu, 1) == []


def test_deleted_tickets_404_and_only_changed_tickets_are_read(emu, warehouse):
    emu.add_ticket(1, "Export fails", "Description 1")
    emu.add_ticket(2, "Login fails", "Description 2")
    emu.add_ticket(3, "Dark mode", "Description 3")
    emu.add_comment(2, "Reply to 2")
    emu.delete(3)  # the export says so: no comments request at all
    emu.purge(1)   # gone, but the export page still shows it open: comments answer 404
    stats = run(warehouse, source(emu))["zendesk"]
    assert stats.error is None and stats.new == 3
    found = rows(warehouse, "zendesk")
    assert found["1"] == ("Export fails", "Description 1", False)
    assert found["2"][1] == PART_SEPARATOR.join(["Description 2", "Reply to 2"])
    assert found["3"][2] is True
    assert comment_requests(emu, 3) == []
    assert len(comment_requests(emu, 1)) == 1  # a 404 is not retried

    mark = len(emu.requests)
    emu.add_comment(2, "Second reply to 2")
    stats = run(warehouse, source(emu), run_id="r2")["zendesk"]
    assert (stats.new, stats.changed) == (0, 1)
    assert {r.path for r in emu.requests[mark:] if "comments" in r.path} == {COMMENTS.format(2)}
    assert rows(warehouse, "zendesk")["2"][1].endswith(f"{PART_SEPARATOR}Second reply to 2")


def test_comment_requests_are_retried_on_429(emu, warehouse):
    emu.add_ticket(1, "Export fails", "Description")
    emu.add_comment(1, "Reply")
    emu.rate_limit(retry_after=0, path="/comments.json")
    assert run(warehouse, source(emu))["zendesk"].error is None
    assert rows(warehouse, "zendesk")["1"][1].endswith("Reply")
    assert len(comment_requests(emu, 1)) == 2


def test_public_replies_skip_the_description_private_notes_and_empty_bodies():
    comments = [
        {"id": 1, "public": True, "body": "The description"},
        {"id": 2, "public": False, "body": "private note"},
        {"id": 3, "public": True, "body": "  "},
        {"id": 4, "public": True, "body": "body", "plain_body": "plain reply"},
        {"id": 5, "public": True, "body": "another"},
    ]
    assert public_replies(comments, limit=5) == ["plain reply", "another"]
    assert public_replies(comments, limit=1) == ["plain reply"]


def test_with_replies_leaves_out_what_does_not_fit():
    sep = len(PART_SEPARATOR)
    assert with_replies("d", ["r1", "r2"], max_chars=1 + sep + 2) == f"d{PART_SEPARATOR}r1"
    assert with_replies("d", [], max_chars=10) == "d"
