import json

import pytest

from feedback_pipeline.errors import ConfigError


def fetch_all(source, cursor=None):
    batches = list(source.fetch(cursor))
    items = [it for b in batches for it in b.items]
    rejections = [r for b in batches for r in b.rejections]
    return batches, items, rejections


def test_jsonl_rejects_bad_lines_and_keeps_good_ones(make_record, write_jsonl, make_file_source):
    path = write_jsonl("posts.jsonl", [
        make_record(external_id="p-1"),
        '{"kind": "community_post", "external_id": ',
        "[1, 2, 3]",
        json.dumps({k: v for k, v in make_record(external_id="p-4").items() if k != "created_at"}),
        b'{"kind": "community_post", "external_id": "p-5", "created_at": "2024-05-01", '
        b'"body": "caf\xe9 au lait"}',
        "",
        make_record(external_id="p-7", body="Another good one"),
    ])

    batches, items, rejections = fetch_all(make_file_source(path))

    assert [it.external_id for it in items] == ["p-1", "p-7"]
    assert [it.source for it in items] == ["forum", "forum"]
    got = [(r.source, r.position, r.external_id) for r in rejections]
    assert got == [
        ("forum", "posts.jsonl:2", None),
        ("forum", "posts.jsonl:3", None),
        ("forum", "posts.jsonl:4", "p-4"),
        ("forum", "posts.jsonl:5", None),
    ]
    reasons = [r.reason for r in rejections]
    assert reasons[0].startswith("malformed JSON: Expecting value at column")
    assert reasons[1] == "each line must be a JSON object, got list"
    assert reasons[2] == "missing required field(s): created_at"
    assert "not valid utf-8" in reasons[3] and "re-export the file as utf-8" in reasons[3]
    assert rejections[1].raw == "[1, 2, 3]"
    assert batches[-1].cursor is not None


def test_invalid_utf8_rejection_keeps_a_printable_raw(write_jsonl, make_file_source):
    path = write_jsonl("posts.jsonl", [b'{"body": "caf\xe9"}'])

    _, items, [rejection] = fetch_all(make_file_source(path))

    assert items == []
    assert rejection.raw == '{"body": "caf?"}'
    rejection.raw.encode("utf-8")  # no lone surrogates left over from the decoding


def test_rejected_raw_is_whole_until_stored(write_jsonl, make_file_source):
    # Whole, so two long records differing late are two rejections (ingest keys them by its
    # hash); the warehouse keeps the first 2,000 characters (test_bad_input.py).
    path = write_jsonl("posts.jsonl", ["x" * 10_000])

    _, _, [rejection] = fetch_all(make_file_source(path))

    assert rejection.raw == "x" * 10_000


def test_empty_file_yields_nothing_and_no_error(tmp_path, make_file_source):
    path = tmp_path / "empty.jsonl"
    path.write_bytes(b"")

    batches, items, rejections = fetch_all(make_file_source(path))

    assert (items, rejections) == ([], [])
    assert len(batches) == 1 and batches[0].cursor


def test_blank_lines_only_yield_nothing(tmp_path, make_file_source):
    path = tmp_path / "blank.jsonl"
    path.write_text("\n   \n\n", encoding="utf-8")

    _, items, rejections = fetch_all(make_file_source(path))

    assert (items, rejections) == ([], [])


def test_csv_multiline_field_and_too_many_fields(tmp_path, make_file_source):
    path = tmp_path / "tickets.csv"
    path.write_bytes(
        b"kind,external_id,created_at,title,body\r\n"
        b'support_ticket,t-1,2024-05-01,Export,"line one\r\nline two, with a comma"\r\n'
        b"support_ticket,t-2,2024-05-01,Too,many,fields\r\n"
        b"support_ticket,t-3,2024-05-02,Login,SSO login loops forever\r\n"
    )

    _, items, rejections = fetch_all(make_file_source(path, name="desk"))

    assert [(it.source, it.external_id, it.body) for it in items] == [
        ("desk", "t-1", "line one\r\nline two, with a comma"),
        ("desk", "t-3", "SSO login loops forever"),
    ]
    assert [(r.source, r.position, r.reason) for r in rejections] == [
        ("desk", "tickets.csv:4", "row has 6 fields, header has 5"),
    ]
    assert '"t-2"' in rejections[0].raw


def test_csv_row_with_invalid_bytes_is_rejected_alone(tmp_path, make_file_source):
    path = tmp_path / "tickets.csv"
    path.write_bytes(
        b"kind,external_id,created_at,body\n"
        b"support_ticket,t-1,2024-05-01,caf\xe9 is broken\n"
        b"support_ticket,t-2,2024-05-01,the export is broken\n"
    )

    _, items, rejections = fetch_all(make_file_source(path))

    assert [it.external_id for it in items] == ["t-2"]
    assert [r.position for r in rejections] == ["tickets.csv:2"]
    assert "not valid utf-8" in rejections[0].reason


def test_csv_missing_field_is_rejected_with_its_external_id(tmp_path, make_file_source):
    path = tmp_path / "tickets.csv"
    path.write_text("kind,external_id,created_at,body\nsupport_ticket,t-1,,no date here\n",
                    encoding="utf-8")

    _, items, [rejection] = fetch_all(make_file_source(path))

    assert items == []
    assert (rejection.position, rejection.reason, rejection.external_id) == (
        "tickets.csv:2", "missing required field(s): created_at", "t-1")


@pytest.mark.parametrize("suffix", ["jsonl", "csv"])
def test_utf8_bom_is_ignored(tmp_path, make_file_source, suffix):
    path = tmp_path / f"bom.{suffix}"
    if suffix == "jsonl":
        content = json.dumps({"kind": "community_post", "external_id": "b-1",
                              "created_at": "2024-05-01", "body": "Dark mode please"}) + "\n"
    else:
        content = ("kind,external_id,created_at,body\n"
                   "community_post,b-1,2024-05-01,Dark mode please\n")
    path.write_bytes(b"\xef\xbb\xbf" + content.encode("utf-8"))

    _, items, rejections = fetch_all(make_file_source(path))

    assert rejections == []
    assert [(it.external_id, it.kind, it.body) for it in items] == [
        ("b-1", "community_post", "Dark mode please")]


def test_default_kind_fills_a_missing_kind(tmp_path, make_file_source):
    path = tmp_path / "export.csv"
    path.write_text("external_id,created_at,body\nx-1,2024-05-01,Please add SSO\n",
                    encoding="utf-8")

    _, items, _ = fetch_all(make_file_source(path, default_kind="support_ticket"))

    assert [(it.source, it.kind) for it in items] == [("forum", "support_ticket")]


def test_unchanged_file_with_returned_cursor_yields_nothing(make_record, write_jsonl,
                                                            make_file_source):
    path = write_jsonl("posts.jsonl", [make_record(), "not json"])
    source = make_file_source(path)
    first, _, _ = fetch_all(source)

    again, items, rejections = fetch_all(source, first[-1].cursor)

    assert (again, items, rejections) == ([], [], [])


def test_changed_file_is_read_again_whole(make_record, write_jsonl, make_file_source):
    path = write_jsonl("posts.jsonl", [make_record(external_id="p-1")])
    source = make_file_source(path)
    first, _, _ = fetch_all(source)
    write_jsonl("posts.jsonl", [make_record(external_id="p-1"), make_record(external_id="p-2")])

    again, items, _ = fetch_all(source, first[-1].cursor)

    assert [it.external_id for it in items] == ["p-1", "p-2"]
    assert again[-1].cursor not in (None, first[-1].cursor)


def test_folder_source_reads_every_supported_file(tmp_path, make_record, make_file_source):
    (tmp_path / "a.jsonl").write_text(json.dumps(make_record(external_id="a-1")) + "\n")
    (tmp_path / "b.ndjson").write_text("oops\n")
    (tmp_path / "notes.txt").write_text("ignored\n")

    _, items, rejections = fetch_all(make_file_source(tmp_path))

    assert [it.external_id for it in items] == ["a-1"]
    assert [r.position for r in rejections] == ["b.ndjson:1"]


def test_missing_path_and_wrong_suffix_are_config_errors(tmp_path, make_file_source):
    with pytest.raises(ConfigError, match="does not exist"):
        list(make_file_source(tmp_path / "nope.jsonl").fetch(None))
    wrong = tmp_path / "posts.txt"
    wrong.write_text("{}")
    with pytest.raises(ConfigError, match=r"is not \.jsonl/\.ndjson/\.json/\.csv"):
        list(make_file_source(wrong).fetch(None))


@pytest.mark.parametrize("separator", ["\u2028", "\u2029", "\x85"], ids=["LS", "PS", "NEL"])
def test_unicode_line_separators_inside_a_json_string_do_not_split_the_line(
    make_record, tmp_path, make_file_source, separator
):
    path = tmp_path / "posts.jsonl"
    lines = [json.dumps(make_record(external_id="p-1", body=f"first{separator}second"),
                        ensure_ascii=False),
             json.dumps(make_record(external_id="p-2"))]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")

    _, items, rejections = fetch_all(make_file_source(path))

    assert rejections == []
    assert [it.external_id for it in items] == ["p-1", "p-2"]
