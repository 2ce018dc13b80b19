from datetime import UTC, datetime

import pytest

from feedback_pipeline.authors import pseudonymise
from feedback_pipeline.ingest.stage import get_cursor, ingest
from feedback_pipeline.records import item_from_mapping

SALT = "test-salt"
ITEM_COLUMNS = (
    "source, external_id, kind, url, author_hash, author_is_bot, title, body, tags, votes, "
    "customer, plan, created_at, updated_at, deleted, content_hash, first_seen_run, "
    "last_changed_run"
)


def item_rows(con):
    return con.execute(f"SELECT {ITEM_COLUMNS} FROM items ORDER BY source, external_id").fetchall()


def rejected_rows(con):
    return con.execute(
        "SELECT source, position, external_id, reason, run_id FROM rejected_items "
        "ORDER BY position"
    ).fetchall()


def content_hash(record: dict) -> str:
    return item_from_mapping(record, max_body_chars=100_000).content_hash


@pytest.fixture
def forum_records(make_record):
    return [
        make_record(external_id="p-1", author="alice", tags="export,csv", votes=3),
        make_record(external_id="p-2", author="bob", kind="support_ticket", title="SSO loops",
                    body="Login with SSO loops back to the login page.", customer="ACME",
                    plan="enterprise", created_at="2024-05-02T10:00:00Z",
                    updated_at="2024-05-03T10:00:00Z", url=None),
        make_record(external_id="p-3", author="dependabot[bot]", title="Bump lodash",
                    body="Bumps lodash from 4.17.20 to 4.17.21."),
    ]


@pytest.fixture
def forum_file(forum_records, write_jsonl):
    return write_jsonl("forum.jsonl", [*forum_records, "{broken json"])


def test_ingest_stores_exact_rows(warehouse, forum_records, forum_file, make_file_source):
    stats = ingest(warehouse, [make_file_source(forum_file)], run_id="r1", salt=SALT)

    r1, r2, r3 = forum_records
    assert item_rows(warehouse) == [
        ("forum", "p-1", "community_post", "https://forum.example.com/t/1",
         pseudonymise("forum", "alice", SALT), False, "CSV export fails", r1["body"],
         ["export", "csv"], 3, None, None, datetime(2024, 5, 1, 9, 30, tzinfo=UTC),
         datetime(2024, 5, 1, 9, 30, tzinfo=UTC), False, content_hash(r1), "r1", "r1"),
        ("forum", "p-2", "support_ticket", None, pseudonymise("forum", "bob", SALT), False,
         "SSO loops", r2["body"], [], 0, "ACME", "enterprise",
         datetime(2024, 5, 2, 10, 0, tzinfo=UTC), datetime(2024, 5, 3, 10, 0, tzinfo=UTC), False,
         content_hash(r2), "r1", "r1"),
        ("forum", "p-3", "community_post", "https://forum.example.com/t/1",
         pseudonymise("forum", "dependabot[bot]", SALT), True, "Bump lodash", r3["body"], [], 0,
         None, None, datetime(2024, 5, 1, 9, 30, tzinfo=UTC),
         datetime(2024, 5, 1, 9, 30, tzinfo=UTC), False, content_hash(r3), "r1", "r1"),
    ]
    assert stats.as_dict() == {
        "fetched": 4, "new": 3, "changed": 0, "unchanged": 0, "stored": 3, "rejected": 1,
        "superseded": 0, "failed_sources": [], "errors": {}, "warnings": [],
        "by_source": {"forum": {"fetched": 4, "new": 3, "changed": 0, "unchanged": 0,
                                "stored": 3, "rejected": 1, "superseded": 0, "error": None,
                                "warnings": []}},
    }


def test_raw_author_is_never_stored(warehouse, forum_file, make_file_source):
    ingest(warehouse, [make_file_source(forum_file)], run_id="r1", salt=SALT)

    hashes = [r[0] for r in warehouse.execute("SELECT author_hash FROM items").fetchall()]
    assert all(h.startswith("a_") and len(h) == 18 for h in hashes)
    assert len(set(hashes)) == 3
    dump = str(warehouse.execute("SELECT * FROM items").fetchall())
    assert "alice" not in dump and "bob" not in dump and "dependabot" not in dump


def test_pseudonym_depends_on_salt_and_source():
    assert pseudonymise("forum", "alice", "s1") == pseudonymise("forum", "alice", "s1")
    assert pseudonymise("forum", "alice", "s1") != pseudonymise("forum", "alice", "s2")
    assert pseudonymise("forum", "alice", "s1") != pseudonymise("desk", "alice", "s1")
    assert pseudonymise("forum", None, "s1") is None


def test_rejections_and_cursor_are_stored(warehouse, forum_file, make_file_source):
    source = make_file_source(forum_file)

    ingest(warehouse, [source], run_id="r1", salt=SALT)

    [(src, position, external_id, reason, run_id)] = rejected_rows(warehouse)
    assert (src, position, external_id, run_id) == ("forum", "forum.jsonl:4", None, "r1")
    assert reason.startswith("malformed JSON:")
    expected_cursor = list(source.fetch(None))[-1].cursor
    assert get_cursor(warehouse, "forum") == expected_cursor


def test_rerun_with_unchanged_file_adds_nothing(warehouse, forum_file, make_file_source):
    source = make_file_source(forum_file)
    ingest(warehouse, [source], run_id="r1", salt=SALT)
    before = (item_rows(warehouse), rejected_rows(warehouse))

    stats = ingest(warehouse, [source], run_id="r2", salt=SALT)

    assert (stats.total("fetched"), stats.total("new"), stats.total("rejected")) == (0, 0, 0)
    assert (item_rows(warehouse), rejected_rows(warehouse)) == before


def test_rereading_the_same_file_upserts_without_duplicates(warehouse, forum_file,
                                                              make_file_source):
    source = make_file_source(forum_file)
    ingest(warehouse, [source], run_id="r1", salt=SALT)
    before = (item_rows(warehouse), rejected_rows(warehouse))
    warehouse.execute("DELETE FROM source_cursors")  # as if the cursor had never been committed

    stats = ingest(warehouse, [source], run_id="r2", salt=SALT)

    by_source = stats.as_dict()["by_source"]["forum"]
    assert (by_source["new"], by_source["changed"], by_source["unchanged"]) == (0, 0, 3)
    assert (item_rows(warehouse), rejected_rows(warehouse)) == before


def test_edited_body_counts_as_changed(warehouse, forum_records, write_jsonl, make_file_source):
    path = write_jsonl("forum.jsonl", [*forum_records, "{broken json"])
    source = make_file_source(path)
    ingest(warehouse, [source], run_id="r1", salt=SALT)
    old_hash = warehouse.execute(
        "SELECT content_hash FROM items WHERE external_id = 'p-2'").fetchone()
    forum_records[1]["body"] = "Login with SSO now works, but only in Firefox."
    write_jsonl("forum.jsonl", [*forum_records, "{broken json"])

    stats = ingest(warehouse, [source], run_id="r2", salt=SALT)

    s = stats.sources["forum"]
    assert (s.fetched, s.new, s.changed, s.unchanged, s.rejected) == (4, 0, 1, 2, 1)
    rows = warehouse.execute(
        "SELECT external_id, body, content_hash, first_seen_run, last_changed_run FROM items "
        "ORDER BY external_id"
    ).fetchall()
    assert rows[1][:2] == ("p-2", "Login with SSO now works, but only in Firefox.")
    assert rows[1][2] not in (old_hash[0], None)
    assert rows[1][2] == content_hash(forum_records[1])
    assert [(r[0], r[3], r[4]) for r in rows] == [
        ("p-1", "r1", "r1"), ("p-2", "r1", "r2"), ("p-3", "r1", "r1")]
    assert warehouse.execute("SELECT count(*) FROM items").fetchone() == (3,)
    assert len(rejected_rows(warehouse)) == 1


@pytest.mark.parametrize("order", [(0, 1, 2), (2, 0, 1), (1, 2, 0)], ids=str)
def test_repeated_record_in_one_batch_keeps_newest(warehouse, make_record, write_jsonl,
                                                    make_file_source, order):
    versions = [
        make_record(external_id="t-1", body="version one of the ticket",
                    updated_at="2024-05-02T00:00:00Z"),
        make_record(external_id="t-1", body="version three of the ticket",
                    updated_at="2024-05-04T00:00:00Z"),
        make_record(external_id="t-1", body="version two of the ticket",
                    updated_at="2024-05-03T00:00:00Z"),
    ]
    path = write_jsonl("desk.jsonl", [versions[i] for i in order])

    stats = ingest(warehouse, [make_file_source(path)], run_id="r1", salt=SALT)

    assert warehouse.execute("SELECT external_id, body, updated_at FROM items").fetchall() == [
        ("t-1", "version three of the ticket", datetime(2024, 5, 4, tzinfo=UTC))]
    assert (stats.total("fetched"), stats.total("new")) == (3, 1)


def test_one_megabyte_body_is_rejected_and_the_rest_ingested(warehouse, make_record, write_jsonl,
                                                             make_file_source):
    path = write_jsonl("forum.jsonl", [
        make_record(external_id="p-1"),
        make_record(external_id="p-huge", body="spam " * 200_000),
        make_record(external_id="p-3"),
    ])

    stats = ingest(warehouse, [make_file_source(path)], run_id="r1", salt=SALT)

    ids = warehouse.execute("SELECT external_id FROM items ORDER BY 1").fetchall()
    assert ids == [("p-1",), ("p-3",)]
    assert rejected_rows(warehouse) == [(
        "forum", "forum.jsonl:2", "p-huge",
        "body is 1,000,000 characters, over the limit of 100,000 (ingest.max_body_chars)", "r1",
    )]
    raw_len = warehouse.execute("SELECT length(raw) FROM rejected_items").fetchone()
    assert raw_len == (2_000,)
    assert (stats.total("new"), stats.total("rejected")) == (2, 1)


def test_failing_source_is_recorded_and_others_still_run(warehouse, tmp_path, forum_file,
                                                         make_file_source):
    missing = make_file_source(tmp_path / "gone.jsonl", name="gone")

    stats = ingest(warehouse, [missing, make_file_source(forum_file)], run_id="r1", salt=SALT)

    assert stats.as_dict()["failed_sources"] == ["gone"]
    assert "does not exist" in stats.sources["gone"].error
    assert stats.sources["forum"].new == 3
    assert get_cursor(warehouse, "gone") is None


def test_unpaired_surrogate_rejects_only_that_record(warehouse, make_record, write_jsonl,
                                                     make_file_source):
    path = write_jsonl("forum.jsonl", [
        make_record(external_id="p-1"),
        '{"kind": "community_post", "external_id": "p-2", "created_at": "2024-05-01", '
        '"body": "truncated emoji \\ud83d"}',
    ])

    ingest(warehouse, [make_file_source(path)], run_id="r1", salt=SALT)

    assert warehouse.execute("SELECT external_id FROM items").fetchall() == [("p-1",)]
    assert [r[1] for r in rejected_rows(warehouse)] == ["forum.jsonl:2"]


def test_what_the_digest_calls_new(warehouse, make_record, write_jsonl, make_file_source):
    from feedback_pipeline.deliver.slack.config import SlackConfig
    from feedback_pipeline.deliver.slack.queries import digest_counts
    from feedback_pipeline.warehouse.runs import finish_run, start_run

    def new_items_since_last_completed(con, as_of):
        return digest_counts(con, [], as_of=as_of, config=SlackConfig())["new_items"]

    night1 = datetime(2026, 10, 1, 2, tzinfo=UTC)
    path = write_jsonl("a.jsonl", [make_record(external_id=f"p-{i}") for i in range(3)])
    run1 = start_run(warehouse)
    ingest(warehouse, [make_file_source(path)], run_id=run1, salt=SALT)
    assert new_items_since_last_completed(warehouse, night1) == 3  # this run's own items
    finish_run(warehouse, run1, {"rank": {"as_of": night1.isoformat()}})

    # A rerun of the same night repeats its digest; the next night announces only its own.
    rerun = start_run(warehouse)
    assert new_items_since_last_completed(warehouse, night1) == 3
    finish_run(warehouse, rerun, {"rank": {"as_of": night1.isoformat()}})
    path = write_jsonl("b.jsonl", [make_record(external_id="p-9")])
    run2 = start_run(warehouse)
    ingest(warehouse, [make_file_source(path, name="other")], run_id=run2, salt=SALT)
    assert new_items_since_last_completed(warehouse, datetime(2026, 10, 2, 2, tzinfo=UTC)) == 1
