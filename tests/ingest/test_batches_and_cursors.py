"""What a batch holds and what a stored cursor may be (cases surviving mutants showed
untested, see RELIABILITY.md)."""

from __future__ import annotations

from feedback_pipeline.authors import BotNames
from feedback_pipeline.ingest.connector import load_cursor, to_batch
from feedback_pipeline.ingest.source import Source
from feedback_pipeline.ingest.stage import ingest, save_batch
from feedback_pipeline.records import Rejection, item_from_mapping


def test_a_stored_cursor_that_is_not_a_json_object_counts_as_none():
    assert load_cursor(None) == {} and load_cursor("") == {}
    assert load_cursor("not json") == {}
    assert load_cursor("[1, 2]") == {} and load_cursor("42") == {}
    assert load_cursor('{"since": "2026-10-01"}') == {"since": "2026-10-01"}


def test_a_batch_keeps_rows_and_rejections_apart(make_record):
    item = item_from_mapping(make_record(external_id="1"), max_body_chars=1_000)
    rejection = Rejection(source="forum", position="page 1", reason="no date", raw="{}")

    batch = to_batch([item, rejection, item], cursor="c1")

    assert batch.items == [item, item] and batch.rejections == [rejection]
    assert batch.cursor == "c1"


def test_of_two_copies_with_the_same_update_time_the_later_one_wins(
        warehouse, make_record, write_jsonl, make_file_source):
    same_time = "2024-05-02T10:00:00Z"
    first = make_record(external_id="7", body="first copy of the post", updated_at=same_time)
    second = make_record(external_id="7", body="second copy of the post", updated_at=same_time)

    ingest(warehouse, [make_file_source(write_jsonl("f.jsonl", [first, second]))], run_id="r1")

    assert warehouse.execute("SELECT body FROM items").fetchall() == [("second copy of the post",)]


def test_configured_bot_names_mark_their_records(warehouse, make_record, write_jsonl,
                                                  make_file_source):
    path = write_jsonl("f.jsonl", [make_record(external_id="1", author="release-robot"),
                                   make_record(external_id="2", author="jane")])

    ingest(warehouse, [make_file_source(path)], run_id="r1",
           bots=BotNames.of(["Release-Robot"], []))

    assert warehouse.execute("SELECT external_id, author_is_bot FROM items ORDER BY 1"
                             ).fetchall() == [("1", True), ("2", False)]


def test_rejections_are_kept_under_their_source_even_with_a_lone_surrogate(warehouse):
    # A file record without a source of its own is rejected under the file source's name; a
    # JSON "\\ud800" escape leaves a lone surrogate in the raw text, which is still kept.
    batch = to_batch([Rejection(source="", position="line 3", reason="not JSON",
                                raw='{"body": "\ud800 broken"}'),
                      Rejection(source="forum-b", position="line 4", reason="no date", raw="{}")])

    stats = save_batch(warehouse, "forum", batch, run_id="r1", salt="s")

    assert stats.rejected == 2
    assert warehouse.execute(
        "SELECT source, position, reason, length(raw_hash), raw LIKE '%broken%', run_id "
        "FROM rejected_items ORDER BY position").fetchall() == [
        ("forum", "line 3", "not JSON", 32, True, "r1"),
        ("forum-b", "line 4", "no date", 32, False, "r1")]


def test_a_rejection_s_position_and_id_are_stored_bounded(warehouse):
    # Both come from the source (a page URL, a vendor id): at most 200 characters are kept.
    where, odd_id = "https://forum.example.com/posts.json?" + "page=9&" * 60, "9" * 300
    batch = to_batch([Rejection(source="forum", position=where, reason="no date", raw="{}",
                                external_id=odd_id)])

    save_batch(warehouse, "forum", batch, run_id="r1", salt="s")

    assert warehouse.execute("SELECT position, external_id FROM rejected_items").fetchall() == [
        (where[:200], odd_id[:200])]


def test_without_explicit_rules_a_record_may_not_overwrite_another_configured_source(
        warehouse, make_record, write_jsonl, make_file_source):
    # The default rules know the sources of this ingest: the desk file's record that says it is
    # the forum's is rejected, not stored over the forum's own post.
    forum = make_file_source(write_jsonl("forum.jsonl", [make_record(external_id="p-1",
                                                                     body="the forum's own")]))
    desk = make_file_source(write_jsonl("desk.jsonl", [make_record(
        external_id="p-1", source="forum", body="HIJACK")]), name="desk")

    stats = ingest(warehouse, [forum, desk], run_id="r1")

    assert warehouse.execute("SELECT source, body FROM items").fetchall() == [
        ("forum", "the forum's own")]
    assert stats.sources["desk"].rejected == 1
    (reason,) = warehouse.execute("SELECT reason FROM rejected_items").fetchone()
    assert "another configured source" in reason


class _BuggySource(Source):
    """A source with a bug of its own (not one of our errors)."""

    name = "buggy"

    def fetch(self, cursor):
        raise KeyError("page_token")
        yield  # a generator, like every source


def test_a_source_s_own_bug_is_reported_as_its_failure_and_the_others_still_run(
        warehouse, make_record, write_jsonl, make_file_source):
    forum = make_file_source(write_jsonl("f.jsonl", [make_record(external_id="1")]))

    stats = ingest(warehouse, [_BuggySource(), forum], run_id="r1").as_dict()

    assert stats["failed_sources"] == ["buggy"]
    assert stats["errors"] == {"buggy": "KeyError: 'page_token'"}
    assert stats["by_source"]["forum"]["new"] == 1


class _PagedSource(Source):
    """A source whose one fetch yields the pages given, as a paged API may (a record edited
    while it is read shows up again on a later page, newer or older)."""

    name = "forum"

    def __init__(self, pages):
        self.pages = pages

    def fetch(self, cursor):
        for n, page in enumerate(self.pages, 1):
            yield to_batch([item_from_mapping(r, max_body_chars=1_000) for r in page],
                           cursor=f"page {n}")


def test_the_run_summary_counts_each_record_a_fetch_met_twice_once_as_stored(
        warehouse, make_record):
    def post(external_id, day, body):
        return make_record(external_id=external_id, body=body,
                           updated_at=f"2024-05-{day:02d}T10:00:00Z")

    pages = [
        [post("1", 3, "one, edited"), post("2", 1, "two")],
        # 1 again but older than the version stored (dropped); 2 newer (stored over page 1's);
        # 3 new; 4 twice on the same page (the older one superseded within the page).
        [post("1", 1, "one"), post("2", 4, "two, edited"), post("3", 2, "three"),
         post("4", 1, "four"), post("4", 2, "four, edited")],
        [post("3", 5, "three, edited")],  # stored over page 2's
    ]

    stats = ingest(warehouse, [_PagedSource(pages)], run_id="r1").as_dict()

    # Every record fetched is either stored (once per record) or superseded.
    assert stats["by_source"]["forum"] == {
        "fetched": 8, "new": 4, "changed": 0, "unchanged": 0, "stored": 4, "rejected": 0,
        "superseded": 4, "error": None, "warnings": []}
    assert (stats["fetched"], stats["stored"], stats["superseded"]) == (8, 4, 4)
    assert warehouse.execute("SELECT external_id, body FROM items ORDER BY 1").fetchall() == [
        ("1", "one, edited"), ("2", "two, edited"), ("3", "three, edited"),
        ("4", "four, edited")]
