from datetime import UTC, datetime

import pytest

from feedback_pipeline.errors import RecordError
from feedback_pipeline.records import REQUIRED, item_from_mapping

LIMIT = 1_000


def parse(raw: dict, max_body_chars: int = LIMIT):
    return item_from_mapping(raw, max_body_chars=max_body_chars)


def test_valid_record_becomes_item(make_record):
    item = parse(make_record(
        title="  CSV export fails ", body=" Export fails for big reports. ", tags="export, csv",
        votes="4", customer="ACME", plan="enterprise", updated_at="2024-05-02T10:00:00+02:00",
    ))

    assert item.source == "forum"
    assert item.kind == "community_post"
    assert item.external_id == "p-1"
    assert item.url == "https://forum.example.com/t/1"
    assert item.author == "alice"
    assert item.title == "CSV export fails"
    assert item.body == "Export fails for big reports."
    assert item.created_at == datetime(2024, 5, 1, 9, 30, tzinfo=UTC)
    assert item.updated_at == datetime(2024, 5, 2, 8, 0, tzinfo=UTC)
    assert item.updated_at.utcoffset().total_seconds() == 0
    assert item.tags == ("export", "csv")
    assert item.votes == 4
    assert (item.customer, item.plan) == ("ACME", "enterprise")
    assert (item.deleted, item.is_bot) == (False, False)


def test_optional_fields_default(make_record):
    raw = make_record()
    for name in ("url", "author", "title"):
        del raw[name]

    item = parse(raw)

    assert (item.url, item.author, item.title, item.tags, item.votes) == (None, None, "", (), 0)
    assert item.updated_at == item.created_at


@pytest.mark.parametrize("field", REQUIRED)
@pytest.mark.parametrize("value", [None, ""], ids=["absent", "empty"])
def test_missing_required_field_is_rejected(make_record, field, value):
    raw = make_record(**{field: value})
    if value is None:
        del raw[field]

    with pytest.raises(RecordError, match=rf"^missing required field\(s\): {field}$"):
        parse(raw)


def test_all_missing_required_fields_are_named_together():
    with pytest.raises(RecordError) as exc:
        parse({"title": "t", "body": "b"})

    assert exc.value.reason == "missing required field(s): source, kind, external_id, created_at"


@pytest.mark.parametrize("kind", ["bug", "Community_Post", "ticket"])
def test_unknown_kind_is_rejected(make_record, kind):
    with pytest.raises(RecordError, match=f"field 'kind' must be one of .*got '{kind}'"):
        parse(make_record(kind=kind))


def test_kind_is_stripped(make_record):
    assert parse(make_record(kind=" support_ticket ")).kind == "support_ticket"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("created_at", "yesterday"),
        ("created_at", "2024-13-01"),
        ("created_at", "01/05/2024"),
        ("updated_at", "not a date"),
    ],
    ids=["word", "month-13", "us-format", "bad-updated_at"],
)
def test_bad_timestamp_is_rejected(make_record, field, value):
    with pytest.raises(RecordError, match=f"field '{field}' is not an ISO 8601 timestamp"):
        parse(make_record(**{field: value}))


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024-05-01T09:30:00Z", datetime(2024, 5, 1, 9, 30, tzinfo=UTC)),
        ("2024-05-01T11:30:00+02:00", datetime(2024, 5, 1, 9, 30, tzinfo=UTC)),
        ("2024-05-01 09:30:00", datetime(2024, 5, 1, 9, 30, tzinfo=UTC)),
        ("2024-05-01", datetime(2024, 5, 1, tzinfo=UTC)),
        (1714555800, datetime(2024, 5, 1, 9, 30, tzinfo=UTC)),
    ],
    ids=["zulu", "offset", "naive-is-utc", "date-only", "epoch-seconds"],
)
def test_timestamps_are_normalised_to_utc(make_record, value, expected):
    assert parse(make_record(created_at=value)).created_at == expected


def test_updated_at_before_created_at_is_raised_to_created_at(make_record):
    item = parse(make_record(created_at="2024-05-02T00:00:00Z", updated_at="2024-05-01T00:00:00Z"))

    assert item.updated_at == datetime(2024, 5, 2, tzinfo=UTC)


@pytest.mark.parametrize(
    ("title", "body"),
    [("", ""), (None, None), ("   ", "\n\t ")],
    ids=["empty", "null", "whitespace"],
)
def test_empty_title_and_body_is_rejected(make_record, title, body):
    with pytest.raises(RecordError, match="both 'title' and 'body' are empty"):
        parse(make_record(title=title, body=body))


@pytest.mark.parametrize(("title", "body"), [("Only a title", ""), ("", "Only a body")],
                         ids=["title-only", "body-only"])
def test_title_or_body_alone_is_enough(make_record, title, body):
    item = parse(make_record(title=title, body=body))

    assert (item.title, item.body) == (title, body)


def test_body_at_the_limit_is_accepted(make_record):
    assert len(parse(make_record(body="x" * LIMIT)).body) == LIMIT


def test_body_over_the_limit_is_rejected_naming_the_setting(make_record):
    with pytest.raises(RecordError) as exc:
        parse(make_record(body="x" * (LIMIT + 1)))

    assert exc.value.reason == (
        "body is 1,001 characters, over the limit of 1,000 (ingest.max_body_chars)"
    )


@pytest.mark.parametrize("field", ["title", "body"])
def test_nul_bytes_are_rejected(make_record, field):
    with pytest.raises(RecordError, match=f"field '{field}' contains NUL bytes"):
        parse(make_record(**{field: "binary\x00data here"}))


@pytest.mark.parametrize(
    ("tags", "expected"),
    [
        ("export, csv ,,reports ", ("export", "csv", "reports")),
        (["export", " csv ", ""], ("export", "csv")),
        (("a",), ("a",)),
        ("", ()),
        (None, ()),
    ],
    ids=["comma-string", "list", "tuple", "empty-string", "null"],
)
def test_tags_from_string_or_list(make_record, tags, expected):
    assert parse(make_record(tags=tags)).tags == expected


def test_tags_of_another_type_are_rejected(make_record):
    with pytest.raises(RecordError,
                       match="field 'tags' must be a list or a comma-separated string"):
        parse(make_record(tags={"a": 1}))


@pytest.mark.parametrize(
    ("votes", "expected"),
    [("12", 12), (3.0, 3), ("7.0", 7), (" -2 ", -2), ("", 0), (None, 0)],
    ids=["numeric-string", "integral-float", "integral-float-string", "negative", "empty",
         "null"],
)
def test_votes_are_integers(make_record, votes, expected):
    assert parse(make_record(votes=votes)).votes == expected


def test_likes_is_an_alias_of_votes(make_record):
    assert parse(make_record(likes="5")).votes == 5


@pytest.mark.parametrize("votes", ["many", "12 votes", [3], {"n": 1}, "nan", 1.9, "7.9", True,
                                   False, "1e3"],
                         ids=["word", "suffix", "list", "object", "nan", "fraction",
                              "fraction-string", "true", "false", "exponent"])
def test_votes_that_are_not_integers_are_rejected_not_coerced(make_record, votes):
    with pytest.raises(RecordError, match="field 'votes' must be an integer"):
        parse(make_record(votes=votes))


@pytest.mark.parametrize("votes", ["inf", "1e400", float("inf")], ids=["inf", "huge", "float-inf"])
def test_infinite_votes_are_a_record_error(make_record, votes):
    with pytest.raises(RecordError, match="field 'votes' must be an integer"):
        parse(make_record(votes=votes))


@pytest.mark.parametrize(
    ("field", "value"),
    [("deleted", "true"), ("deleted", "1"), ("is_bot", "yes"), ("is_bot", True)],
)
def test_boolean_flags_accept_strings(make_record, field, value):
    assert getattr(parse(make_record(**{field: value})), field) is True


def test_text_field_of_wrong_type_is_rejected(make_record):
    with pytest.raises(RecordError, match="field 'body' must be text, got dict"):
        parse(make_record(body={"html": "<p>hi</p>"}))


def test_non_mapping_is_rejected():
    with pytest.raises(RecordError, match="record must be an object, got list"):
        parse(["not", "a", "record"])  # type: ignore[arg-type]


def test_content_hash_is_stable_for_the_same_text(make_record):
    assert parse(make_record()).content_hash == parse(make_record()).content_hash
    assert len(parse(make_record()).content_hash) == 32


@pytest.mark.parametrize(
    "change",
    [{"body": "The CSV export fails for all reports."}, {"title": "Excel export fails"},
     {"deleted": True}],
    ids=["body", "title", "deleted"],
)
def test_content_hash_changes_when_what_a_reader_sees_changes(make_record, change):
    assert parse(make_record(**change)).content_hash != parse(make_record()).content_hash


@pytest.mark.parametrize(
    "change",
    [{"votes": 99}, {"updated_at": "2024-06-01T00:00:00Z"}, {"tags": "x,y"}, {"author": "bob"},
     {"url": "https://elsewhere.example.com"}, {"body": "  The CSV export fails for reports "
                                                        "with more than ten thousand rows.\n"}],
    ids=["votes", "updated_at", "tags", "author", "url", "surrounding-whitespace"],
)
def test_content_hash_ignores_metadata(make_record, change):
    assert parse(make_record(**change)).content_hash == parse(make_record()).content_hash
