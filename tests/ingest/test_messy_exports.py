"""Real exports are messy: every bad record is rejected alone, with its position and a bounded
reason, and the rest of the file, and every other source, is still ingested.

Each test writes the hostile input to disk as an export would, reads it through the file source
and the ingest stage into a fresh warehouse, and checks what was stored and what was rejected.
The whole night over a clean and a messy source is in ``test_messy_night.py``.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from feedback_pipeline.config import FileSourceConfig, IngestConfig
from feedback_pipeline.ingest.files import FileSource
from feedback_pipeline.ingest.stage import ingest
from feedback_pipeline.records import MAX_REASON_CHARS, RecordRules

NOW = datetime(2026, 11, 26, 12, tzinfo=UTC)


def good(external_id: str, **overrides: object) -> dict:
    record = {"kind": "community_post", "external_id": external_id, "author": "alice",
              "title": "Export fails", "body": f"The CSV export fails ({external_id}).",
              "created_at": "2026-11-01T09:30:00Z"}
    record.update(overrides)
    return record


def line(record: dict) -> bytes:
    return json.dumps(record).encode()


@pytest.fixture
def night(warehouse, tmp_path):
    """Ingest files as one source each (name -> bytes) and return what the warehouse holds."""

    def run(files: dict[str, bytes], *, encoding: str = "utf-8", extra=(), **limits):
        config = IngestConfig(**limits)
        rules = config.rules(NOW)
        sources = []
        for name, data in files.items():
            path = tmp_path / name
            path.write_bytes(data)
            sources.append(FileSource(FileSourceConfig(name=path.stem, path=path,
                                                       encoding=encoding),
                                      ingest=config, rules=rules))
        stats = ingest(warehouse, [*sources, *extra], run_id="r1", rules=rules)
        return stats

    return run


def stored(con, source: str | None = None) -> dict[str, str]:
    sql = "SELECT external_id, body FROM items" + (" WHERE source = ?" if source else "")
    return dict(con.execute(sql, [source] if source else []).fetchall())


def rejected(con) -> dict[str, str]:
    return dict(con.execute("SELECT position, reason FROM rejected_items").fetchall())


def reconciles(stats) -> bool:
    return all(s.fetched == s.stored + s.rejected + s.superseded
               for s in stats.sources.values())


# -- decoding and nesting -----------------------------------------------------------------------

def test_deep_nesting_lone_surrogates_and_wrong_encoding_reject_only_their_line(warehouse, night):
    deep = b'{"kind": "community_post", "external_id": "deep", "body": ' + b"[" * 100_000 \
        + b"]" * 100_000 + b"}"
    surrogates = [
        b'{"kind": "community_post", "external_id": "s-author", "author": "Zo\\ud83d", '
        b'"body": "b", "created_at": "2026-11-01"}',
        b'{"kind": "community_post", "external_id": "s-customer", "customer": "\\udc80", '
        b'"body": "b", "created_at": "2026-11-01"}',
        b'{"kind": "community_post", "external_id": "s-tags", "tags": ["ok", "\\ud83d"], '
        b'"body": "b", "created_at": "2026-11-01"}',
        b'{"kind": "community_post", "external_id": "s-id\\ud83d", "body": "b", '
        b'"created_at": "2026-11-01"}',
    ]
    latin1 = '{"kind": "community_post", "external_id": "l1", "body": "café", ' \
             '"created_at": "2026-11-01"}'.encode("latin-1")
    data = b"\n".join([line(good("g-1")), deep, *surrogates, latin1, line(good("g-2"))])

    stats = night({"forum.jsonl": data})

    assert set(stored(warehouse)) == {"g-1", "g-2"}
    reasons = rejected(warehouse)
    assert set(reasons) == {f"forum.jsonl:{n}" for n in range(2, 8)}
    assert "nested too deeply" in reasons["forum.jsonl:2"]
    for n, name in zip(range(3, 7), ("author", "customer", "tags", "external_id"), strict=True):
        assert f"field '{name}' contains an unpaired surrogate" in reasons[f"forum.jsonl:{n}"]
    assert "not valid utf-8" in reasons["forum.jsonl:7"]
    assert reconciles(stats) and stats.sources["forum"].error is None


def test_configured_encoding_reads_a_latin1_export(warehouse, night):
    data = '{"kind": "community_post", "external_id": "l1", "body": "café au lait", ' \
           '"created_at": "2026-11-01"}\n'.encode("cp1252")

    night({"forum.jsonl": data}, encoding="cp1252")

    assert stored(warehouse) == {"l1": "café au lait"}


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-8-sig"])
def test_byte_order_marks_and_bom_less_utf16_are_read(warehouse, night, encoding):
    text = "\r\n".join(json.dumps(good(f"u-{n}", body=f"Größe {n} 👍"), ensure_ascii=False)
                       for n in range(3)) + "\r\n"

    stats = night({"forum.jsonl": text.encode(encoding)})

    assert stored(warehouse) == {f"u-{n}": f"Größe {n} 👍" for n in range(3)}
    assert stats.total("rejected") == 0


def test_empty_files_blank_lines_and_crlf(warehouse, night):
    stats = night({"a.jsonl": b"", "b.csv": b"", "c.json": b"  \n",
                   "d.jsonl": b"\r\n" + line(good("d-1")) + b"\r\n\r\n"})

    assert set(stored(warehouse)) == {"d-1"}
    assert stats.total("rejected") == 0 and not stats.as_dict()["failed_sources"]


def test_exports_joined_with_cat_keep_their_second_bom(warehouse, night):
    data = b"\xef\xbb\xbf" + line(good("a-1")) + b"\n\xef\xbb\xbf" + line(good("b-1")) + b"\n"

    night({"joined.jsonl": data})

    assert set(stored(warehouse)) == {"a-1", "b-1"}


def test_epoch_milliseconds_are_rejected_with_a_hint(warehouse, night):
    night({"forum.jsonl": line(good("ms", created_at=1_764_150_000_000))})

    assert "(milliseconds? epoch timestamps are in seconds)" in rejected(warehouse)["forum.jsonl:1"]


# -- JSON documents -----------------------------------------------------------------------------

def test_json_array_with_a_broken_element_and_trailing_garbage(warehouse, night):
    elements = [json.dumps(good("a-1"), indent=2), '{"kind": "community_post", "external_id": ',
                json.dumps(good("a-3"), indent=2), "42"]
    data = ("[\n" + ",\n".join(elements) + "\n]\nGARBAGE AFTER\n").encode()

    stats = night({"posts.json": data})

    assert set(stored(warehouse)) == {"a-1", "a-3"}
    reasons = rejected(warehouse)
    broken = next(p for p, r in reasons.items() if "malformed JSON" in r)
    assert "reading resumes" in reasons[broken]
    assert any("must be a JSON object, got int" in r for r in reasons.values())
    assert any("trailing data after the JSON array" in r for r in reasons.values())
    assert all(p.startswith("posts.json:") for p in reasons)
    assert reconciles(stats)


def test_json_array_in_a_jsonl_file_and_jsonl_in_a_json_file(warehouse, night):
    night({"one.jsonl": json.dumps([good("x-1"), good("x-2")]).encode(),
           "two.json": line(good("y-1")) + b"\n" + line(good("y-2")) + b"\n",
           "three.json": json.dumps(good("z-1"), indent=2).encode()})

    assert set(stored(warehouse)) == {"x-1", "x-2", "y-1", "y-2", "z-1"}
    assert rejected(warehouse) == {}


def test_unclosed_json_array_is_rejected_with_what_came_before_kept(warehouse, night):
    night({"posts.json": f'[{json.dumps(good("a-1"))},\n{json.dumps(good("a-2"))}'.encode()})

    assert set(stored(warehouse)) == {"a-1", "a-2"}
    assert any("not closed" in r for r in rejected(warehouse).values())


def test_line_over_max_record_chars_is_rejected_before_parsing(warehouse, night):
    data = line(good("big", body="x" * 5_000)) + b"\n" + line(good("g-1"))

    night({"forum.jsonl": data}, max_record_chars=4_000)

    assert set(stored(warehouse)) == {"g-1"}
    assert "over the limit of 4,000 (ingest.max_record_chars)" in \
        rejected(warehouse)["forum.jsonl:1"]


# -- CSV ----------------------------------------------------------------------------------------

CSV_HEADER = b"kind,external_id,created_at,title,body\r\n"


def csv_row(external_id: str, body: str = "Login loops forever") -> bytes:
    return f"support_ticket,{external_id},2026-11-02,Login,{body}\r\n".encode()


def test_stray_quote_is_rejected_at_its_line_and_the_rows_after_it_are_recovered(warehouse,
                                                                                night):
    rows = [csv_row(f"t-{n}") for n in range(1, 40)]
    rows[4] = b'support_ticket,t-5,2026-11-02,Login,"the quote never closes\r\n'
    data = b"\xef\xbb\xbf" + CSV_HEADER + b"".join(rows)

    stats = night({"desk.csv": data}, csv_max_record_lines=10)

    assert set(stored(warehouse)) == {f"t-{n}" for n in range(1, 40)} - {"t-5"}
    reasons = rejected(warehouse)
    assert list(reasons) == ["desk.csv:6"]
    assert "not closed within 10 lines" in reasons["desk.csv:6"]
    assert reconciles(stats)


def test_stray_quote_closed_by_a_later_rows_quote_swallows_no_row(warehouse, night):
    data = (CSV_HEADER + csv_row("t-1") + b'support_ticket,t-2,2026-11-02,Login,"oops\r\n'
            + csv_row("t-3") + csv_row("t-4")
            + b'support_ticket,t-5,2026-11-02,Login,"quoted, with a comma"\r\n' + csv_row("t-6"))

    stats = night({"desk.csv": data})

    assert stored(warehouse) == {"t-1": "Login loops forever", "t-3": "Login loops forever",
                                 "t-4": "Login loops forever", "t-5": "quoted, with a comma",
                                 "t-6": "Login loops forever"}
    assert "over lines 3-6: an unterminated quote?" in rejected(warehouse)["desk.csv:3"]
    assert reconciles(stats)


def test_stray_quote_running_to_the_end_of_the_file(warehouse, night):
    night({"desk.csv": CSV_HEADER + csv_row("t-1") + b'support_ticket,t-2,2026-11-02,A,"oops\r\n'
           + csv_row("t-3")})

    assert set(stored(warehouse)) == {"t-1", "t-3"}
    assert "not closed before the end of the file" in rejected(warehouse)["desk.csv:3"]


def test_field_over_the_csv_module_limit_is_a_rejection_not_a_crash(warehouse, night):
    huge = '"' + "word " * 40_000 + '"'  # 200,000 characters: over csv's 131,072 per field
    data = CSV_HEADER + csv_row("t-1") + csv_row("t-2", huge) + csv_row("t-3")

    night({"desk.csv": data})

    assert set(stored(warehouse)) == {"t-1", "t-3"}
    assert "body is 200,000 characters, over the limit of 100,000" in \
        rejected(warehouse)["desk.csv:3"]


def test_multiline_quoted_fields_row_width_and_bare_cr(warehouse, night):
    data = (CSV_HEADER + b'support_ticket,t-1,2026-11-02,Export,"line one\r\nline two"\r\n'
            + b"support_ticket,t-2,2026-11-02,Too,many,fields\r\n"
            + b"support_ticket,t-3,2026-11-02,Short\r"  # a missing body, old Mac line end
            + csv_row("t-4"))

    night({"desk.csv": data})

    assert stored(warehouse) == {"t-1": "line one\r\nline two", "t-3": "",
                                 "t-4": "Login loops forever"}
    assert rejected(warehouse) == {"desk.csv:4": "row has 6 fields, header has 5"}


def test_utf16_csv_with_nul_and_control_characters_in_ids(warehouse, night):
    text = ("kind,external_id,url,created_at,body\n"
            "support_ticket,t-1,https://desk.example.com/1,2026-11-02,fine\n"
            "support_ticket,t\x00-2,https://desk.example.com/2,2026-11-02,NUL in id\n"
            "support_ticket,t-3,https://desk.example.com/\x1b[31m,2026-11-02,ESC in url\n")

    night({"desk.csv": b"\xff\xfe" + text.encode("utf-16-le")})

    assert set(stored(warehouse)) == {"t-1"}
    reasons = rejected(warehouse)
    assert "field 'external_id' contains NUL bytes" in reasons["desk.csv:3"]
    assert "field 'url' contains the control character U+001B" in reasons["desk.csv:4"]


def test_a_header_naming_a_column_twice_rejects_its_rows(warehouse, night):
    data = b"kind,external_id,created_at,body,body\r\nsupport_ticket,t-1,2026-11-02,a,b\r\n"

    night({"desk.csv": data})

    assert stored(warehouse) == {}
    assert rejected(warehouse) == {"desk.csv:2": "the header names column(s) 'body' twice"}


# -- whole sources ------------------------------------------------------------------------------

def test_a_source_that_fails_as_a_whole_is_named_and_the_others_still_ingest(warehouse, night,
                                                                            tmp_path):
    folder = tmp_path / "empty-folder"
    folder.mkdir()
    unreadable = tmp_path / "dir-source"
    (unreadable / "looks-like.jsonl").mkdir(parents=True)  # a folder: reading it fails
    broken = [FileSource(FileSourceConfig(name=name, path=path)) for name, path in (
        ("typo", tmp_path / "exprots.jsonl"), ("folder", folder),
        ("pattern", tmp_path / "nothing-*.csv"), ("unreadable", unreadable))]

    stats = night({"forum.jsonl": line(good("g-1"))}, extra=broken)

    assert set(stored(warehouse)) == {"g-1"}
    summary = stats.as_dict()
    assert summary["failed_sources"] == ["typo", "folder", "pattern", "unreadable"]
    assert "file " in summary["errors"]["typo"] and "does not exist" in summary["errors"]["typo"]
    assert "holds no .jsonl/.ndjson/.json/.csv file" in summary["errors"]["folder"]
    assert "matches no .jsonl/.ndjson/.json/.csv file" in summary["errors"]["pattern"]
    assert "source 'unreadable': cannot read" in summary["errors"]["unreadable"]
    assert warehouse.execute("SELECT count(*) FROM source_cursors WHERE source <> 'forum'"
                             ).fetchone() == (0,)


def test_glob_pattern_reads_every_matching_export(warehouse, tmp_path):
    for n in range(3):
        (tmp_path / f"export-{n}.jsonl").write_bytes(line(good(f"e-{n}")))
    (tmp_path / "notes.txt").write_text("not an export")
    source = FileSource(FileSourceConfig(name="exports", path=tmp_path / "export-*.jsonl"))

    stats = ingest(warehouse, [source], run_id="r1", rules=RecordRules(now=NOW))

    assert set(stored(warehouse)) == {"e-0", "e-1", "e-2"} and stats.total("rejected") == 0


def test_rejection_reasons_and_raw_prefixes_are_bounded(warehouse, night):
    night({"forum.jsonl": line(good("t", title="T" * 3_000_000))
           + b"\n" + line(good("v", votes="9" * 3_000 + ".5"))
           + b"\n" + line(good("huge", title="T" * 10_000_000))})

    reasons = rejected(warehouse)
    assert "title is 3,000,000 characters, over the limit of 1,000" in reasons["forum.jsonl:1"]
    assert "the line is 10,000,1" in reasons["forum.jsonl:3"]  # ingest.max_record_chars
    assert "field 'votes' must be an integer" in reasons["forum.jsonl:2"]
    assert all(len(r) <= MAX_REASON_CHARS for r in reasons.values())
    assert warehouse.execute("SELECT max(length(raw)) FROM rejected_items").fetchone() == (2_000,)


def test_rules_window_follows_the_run_clock(warehouse, night):
    inside = (NOW + timedelta(hours=23)).isoformat()
    beyond = (NOW + timedelta(hours=25)).isoformat()

    night({"forum.jsonl": line(good("in", created_at=inside)) + b"\n"
           + line(good("out", created_at=beyond))})

    assert set(stored(warehouse)) == {"in"}
    assert "in the future of this run" in rejected(warehouse)["forum.jsonl:2"]
