"""The explicit rules for messy records: strict types, the date window, duplicates within a
fetch, a record's own `source` field, connector pages, and how rejections are shown."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from emulators.github import GitHubEmulator
from typer.testing import CliRunner

from feedback_pipeline.cli import app
from feedback_pipeline.config import FileSourceConfig, IngestConfig
from feedback_pipeline.ingest import files as files_module
from feedback_pipeline.ingest.files import FileSource
from feedback_pipeline.ingest.stage import ingest
from feedback_pipeline.records import RecordRules
from feedback_pipeline.report.status import stage_line, warehouse_status
from feedback_pipeline.warehouse import db
from feedback_pipeline.warehouse.runs import resolve_as_of

from .cases import github_case
from .test_messy_exports import NOW, good, line, rejected, stored

RULES = RecordRules(now=NOW)


def source(path, name="forum") -> FileSource:
    return FileSource(FileSourceConfig(name=name, path=path), rules=RULES)


def write(tmp_path, name: str, records: list) -> object:
    path = tmp_path / name
    path.write_bytes(b"\n".join(r if isinstance(r, bytes) else line(r) for r in records) + b"\n")
    return path


# -- strict types -------------------------------------------------------------------------------

@pytest.mark.parametrize(("field", "value", "reason"), [
    ("votes", 1.9, "field 'votes' must be an integer, got 1.9"),
    ("votes", True, "field 'votes' must be an integer, got True"),
    ("votes", "3 votes", "field 'votes' must be an integer"),
    ("external_id", {"a": 1}, "field 'external_id' must be text or an integer, got dict"),
    ("external_id", 1.5, "field 'external_id' must be text or an integer, got float"),
    ("external_id", "a\x00b", "field 'external_id' contains NUL bytes"),
    ("url", "https://x.example/\x00", "field 'url' contains NUL bytes"),
    ("url", "https://x.example/\u0085", "field 'url' contains the control character U+0085"),
    ("author", "bob\r\nBcc: eve", "field 'author' contains the control character U+000D"),
    ("title", ["a", "list"], "field 'title' must be text, got list"),
    ("deleted", "maybe", "field 'deleted' must be true or false, got 'maybe'"),
    ("tags", [["nested"]], "field 'tags' must hold text, got list"),
    ("kind", 7, "field 'kind' must be one of"),
], ids=lambda v: str(v)[:20])
def test_wrong_types_are_rejected_not_coerced(warehouse, tmp_path, field, value, reason):
    path = write(tmp_path, "forum.jsonl", [good("g-1"), {**good("bad"), field: value}])

    ingest(warehouse, [source(path)], run_id="r1", rules=RULES)

    assert set(stored(warehouse)) == {"g-1"}
    assert rejected(warehouse)["forum.jsonl:2"].startswith(reason)


def test_integer_ids_and_integral_votes_are_accepted(warehouse, tmp_path):
    path = write(tmp_path, "forum.jsonl", [good(42, votes=3.0), good("x", votes="7")])

    ingest(warehouse, [source(path)], run_id="r1", rules=RULES)

    assert warehouse.execute("SELECT external_id, votes FROM items ORDER BY 1").fetchall() == [
        ("42", 3), ("x", 7)]


# -- dates --------------------------------------------------------------------------------------

@pytest.mark.parametrize(("created_at", "reason"), [
    ("9999-12-31T23:59:59Z", "in the future of this run"),
    ("1970-01-01T00:00:00Z", "before the oldest accepted date 2000-01-01 (ingest.oldest_date)"),
    (0, "before the oldest accepted date"),
    ("0001-01-01", "before the oldest accepted date"),
    ("2026-02-30", "not an ISO 8601 timestamp"),
])
def test_placeholder_and_impossible_dates_are_rejected(warehouse, tmp_path, created_at, reason):
    path = write(tmp_path, "forum.jsonl", [good("g-1"), good("bad", created_at=created_at)])

    ingest(warehouse, [source(path)], run_id="r1", rules=RULES)

    assert set(stored(warehouse)) == {"g-1"}
    assert reason in rejected(warehouse)["forum.jsonl:2"]


def test_oldest_date_and_future_tolerance_are_settings(warehouse, tmp_path):
    rules = IngestConfig(oldest_date="1990-01-01", future_tolerance_hours=0).rules(NOW)
    path = write(tmp_path, "forum.jsonl", [good("old", created_at="1995-06-01"),
                                           good("soon", created_at="2026-11-26T13:00:00Z")])

    ingest(warehouse, [FileSource(FileSourceConfig(name="forum", path=path), rules=rules)],
           run_id="r1", rules=rules)

    assert set(stored(warehouse)) == {"old"}


def test_a_far_future_item_stored_before_never_moves_as_of(warehouse, tmp_path):
    # A warehouse filled by an older version, without the date window: 'latest' still is
    # at most the run's clock.
    path = write(tmp_path, "forum.jsonl", [good("g-1", created_at="2026-11-01T00:00:00Z"),
                                           good("never", created_at="9999-12-31T23:59:59Z")])
    ingest(warehouse, [FileSource(FileSourceConfig(name="forum", path=path))], run_id="r1",
           rules=RecordRules(now=datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)))
    assert len(stored(warehouse)) == 2

    assert resolve_as_of(warehouse, "latest") == datetime(2026, 11, 1, tzinfo=UTC)


# -- duplicates and the source key ---------------------------------------------------------------

def test_duplicate_ids_in_one_file_last_wins_and_the_others_are_counted(warehouse, tmp_path,
                                                                       monkeypatch):
    monkeypatch.setattr(files_module, "BATCH_SIZE", 2)  # versions land in different batches
    path = write(tmp_path, "forum.jsonl", [
        good("d", body="first"), good("e", body="only"), good("d", body="second"),
        good("d", body="third, newest", updated_at="2026-11-03T00:00:00Z"),
        good("d", body="fourth, older than the third", updated_at="2026-11-02T00:00:00Z"),
        good("f", body="one"), good("f", body="two")])

    stats = ingest(warehouse, [source(path)], run_id="r1", rules=RULES).sources["forum"]

    assert stored(warehouse) == {"d": "third, newest", "e": "only", "f": "two"}
    assert (stats.fetched, stats.stored, stats.rejected, stats.superseded) == (7, 3, 0, 4)
    assert (stats.new, stats.changed, stats.unchanged) == (3, 0, 0)
    assert "7 in = 3 stored + 0 rejected + 4 superseded" in stage_line(
        "ingest", ingest(warehouse, [], run_id="r2").as_dict() | {
            "fetched": 7, "stored": 3, "rejected": 0, "superseded": 4})


@pytest.mark.parametrize("order", ["forum first", "desk first"])
def test_a_records_own_source_field_never_overwrites_another_source(warehouse, tmp_path, order):
    forum = write(tmp_path, "forum.jsonl", [good("p-1", body="the forum's own post")])
    desk = write(tmp_path, "desk.jsonl", [
        good("p-1", source="forum", body="HIJACK"), good("p-2", source="desk"), good("p-3"),
        good("p-4", source="helpdesk-2019")])  # a label no source is configured with: kept
    sources = [FileSource(FileSourceConfig(name="forum", path=forum)),
               FileSource(FileSourceConfig(name="desk", path=desk))]

    stats = ingest(warehouse, sources if order == "forum first" else sources[::-1], run_id="r1",
                   rules=RULES)

    assert stored(warehouse, "forum") == {"p-1": "the forum's own post"}
    assert set(stored(warehouse, "desk")) == {"p-2", "p-3"}
    assert set(stored(warehouse, "helpdesk-2019")) == {"p-4"}
    assert "field 'source' is 'forum', another configured source" in \
        rejected(warehouse)["desk.jsonl:1"]
    assert stats.sources["desk"].fetched == 4 and stats.sources["desk"].rejected == 1


# -- connector pages ------------------------------------------------------------------------------

def test_connector_page_rejects_bad_records_alone_with_their_position(warehouse, monkeypatch):
    with GitHubEmulator() as emu:
        case = github_case(emu)
        monkeypatch.setenv(case.token_env, case.token)
        case.seed()
        issues = emu.issues["acme/app"]
        issues[1]["user"]["login"] = "Zo\ud83d"
        issues[2]["title"] = "T" * 5_000
        issues[3]["created_at"] = "9999-12-31T23:59:59Z"
        issues[4]["body"] = {"html": "<p>an object</p>"}

        stats = ingest(warehouse, [case.source_cls(case.config)], run_id="r1",
                       rules=RecordRules(now=datetime.now(UTC)))

    github = stats.sources["github"]
    assert github.error is None
    assert set(stored(warehouse)) == {"acme/app#5"}
    reasons = rejected(warehouse)
    assert "unpaired surrogate" in reasons["acme/app#1"]
    assert "title is 5,000 characters" in reasons["acme/app#2"]
    assert "in the future of this run" in reasons["acme/app#3"]
    assert "field 'body' must be text, got dict" in reasons["acme/app#4"]
    assert github.fetched == github.stored + github.rejected + github.superseded


# -- showing rejections ---------------------------------------------------------------------------

@pytest.fixture
def rejected_warehouse(tmp_path):
    path = write(tmp_path, "forum.jsonl", [good("g-1"), b"{not json \x1b[2J", good(
        "evil", author="\x1b[2J", body="secret token=ghp_" + "a" * 36)])
    wh = tmp_path / "wh.duckdb"
    con = db.connect(wh)
    try:
        ingest(con, [source(path), source(write(tmp_path, "desk.jsonl", [b"[1]"]), name="desk")],
               run_id="r1", rules=RULES)
        # `status` counts them per source
        assert [(r["source"], r["records"]) for r in warehouse_status(con)["rejected"]] == [
            ("desk", 1), ("forum", 2)]
    finally:
        con.close()
    return wh


def test_rejected_command_shows_where_and_why(rejected_warehouse):
    runner = CliRunner()

    as_json = runner.invoke(app, ["rejected", "-w", str(rejected_warehouse), "--source", "forum",
                                  "--format", "json"])
    table = runner.invoke(app, ["rejected", "-w", str(rejected_warehouse)])
    later = runner.invoke(app, ["rejected", "-w", str(rejected_warehouse), "--since",
                                "2999-01-01"])

    assert as_json.exit_code == 0, as_json.output
    rows = json.loads(as_json.output)
    assert {r["position"] for r in rows} == {"forum.jsonl:2", "forum.jsonl:3"}
    assert all(r["reason"] and r["run_id"] == "r1" for r in rows)
    assert table.exit_code == 0
    assert "desk.jsonl:1" in table.output and "must be a JSON object" in table.output
    assert "\x1b" not in table.output and "{not json \\x1b[2J" in table.output
    assert "ghp_" + "a" * 36 not in table.output + as_json.output
    assert "3 rejected record(s)" in table.output
    assert later.output.strip() == "no rejected records"


def test_run_with_an_invalid_config_fails_before_the_flow_starts(tmp_path, monkeypatch):
    import feedback_pipeline_flows.nightly

    def never(**_kwargs):
        raise AssertionError("the flow (and Prefect's server) must not start")

    monkeypatch.setattr(feedback_pipeline_flows.nightly, "nightly", never)
    config = tmp_path / "fp.toml"
    config.write_text('[ingest]\nmax_body_chars = 10\nmax_bodychars = 5\n', encoding="utf-8")

    result = CliRunner().invoke(app, ["run", "--config", str(config)])

    assert result.exit_code == 2
    assert "max_bodychars" in result.output and "Extra inputs are not permitted" in result.output


def test_the_digest_is_dated_by_the_runs_day_not_by_its_newest_item(warehouse):
    from feedback_pipeline.warehouse.runs import open_run

    warehouse.execute("INSERT INTO items (source, external_id, kind, created_at, updated_at, "
                      "content_hash) VALUES ('f', '1', 'community_post', ?, ?, 'h')",
                      [datetime(2024, 5, 1, tzinfo=UTC)] * 2)
    with open_run(warehouse, as_of="latest") as latest:
        assert latest.as_of == datetime(2024, 5, 1, tzinfo=UTC)
        started = warehouse.execute("SELECT started_at FROM runs WHERE run_id = ?",
                                    [latest.run_id]).fetchone()[0]
        assert latest.digest_as_of == started
    fixed = datetime(2024, 6, 30, 23, 59, 59, tzinfo=UTC)
    with open_run(warehouse, as_of=fixed) as replayed:  # a backfill day, a simulated night
        assert replayed.digest_as_of == fixed


def test_status_and_run_summary_name_a_failed_source_and_reconcile(warehouse, tmp_path):
    from feedback_pipeline.report.status import run_summary_markdown

    path = write(tmp_path, "forum.jsonl", [good("g-1"), good("g-1"), b"oops"])
    stats = ingest(warehouse, [source(path), source(tmp_path / "typo.jsonl", name="desk")],
                   run_id="r1", rules=RULES).as_dict()

    line_ = stage_line("ingest", stats)
    assert "3 in = 1 stored + 1 rejected + 1 superseded" in line_
    assert "failed sources: desk (source 'desk': file " in line_ and "does not exist" in line_
    assert "failed sources: desk" in run_summary_markdown("r1", {"ingest": stats})
