"""A warehouse made before the community pulse (no thread columns, no thread_replies) keeps its
rows and gains the columns on its next open, read-only or not."""

from __future__ import annotations

from contextlib import closing
from datetime import UTC, datetime

import duckdb
from pulse_threads import DESK

from feedback_pipeline.deliver.slack.queries import community_threads
from feedback_pipeline.ingest.source import Batch
from feedback_pipeline.ingest.stage import save_batch
from feedback_pipeline.rank.pulse import PulseConfig, compute_pulse, has_thread_data
from feedback_pipeline.records import item_from_mapping
from feedback_pipeline.report.pulse_section import report_pulse
from feedback_pipeline.warehouse import db

AS_OF = datetime(2026, 3, 10, 12, tzinfo=UTC)


def old_warehouse(path) -> None:
    """The schema as it was before schema_pulse.sql, with one stored item in a theme."""
    with closing(duckdb.connect(str(path))) as con:
        for name in db.schema_files():
            if name != "schema_pulse.sql":
                con.execute(db.sql_text(name))
        assert "thread_id" not in db.columns(con, "items")
        con.execute("INSERT INTO items (source, external_id, kind, url, title, created_at, "
                    "updated_at, content_hash) VALUES ('forum', 'old', 'community_post', "
                    "'https://forum.example.com/t/9', 'old post', ?, ?, 'h')", [AS_OF, AS_OF])
        con.execute("INSERT INTO item_themes (source, external_id, theme_id) "
                    "VALUES ('forum', 'old', 7)")


def test_a_read_only_open_of_an_old_warehouse_gains_the_columns_and_every_output_works(tmp_path):
    """The report, the digest's thread list and `pulse` read an older file: `db.connect` adds
    the thread columns first, and with no thread data nobody claims a thread is answered."""
    old_warehouse(tmp_path / "w.duckdb")
    with closing(db.connect(tmp_path / "w.duckdb", read_only=True)) as con:
        assert {"thread_id", "reply_to", "author_role"} <= db.columns(con, "items")
        assert not has_thread_data(con)
        assert report_pulse(con, PulseConfig()) is None  # the report leaves the section out
        assert community_threads(con, 7, 3)[0]["answered"] is None
        pulse = compute_pulse(con, PulseConfig(nights=1), as_of=AS_OF)
        assert (pulse.periods[0].posts, pulse.periods[0].customer_threads) == (1, 0)
        assert pulse.unanswered == []


def test_writable_open_adds_the_columns_and_keeps_the_rows(tmp_path):
    old_warehouse(tmp_path / "w.duckdb")
    with closing(db.connect(tmp_path / "w.duckdb")) as con:
        assert {"thread_id", "reply_to", "author_role"} <= db.columns(con, "items")
        assert "thread_replies" in db.tables(con)
        assert con.execute("SELECT external_id, thread_id, author_role FROM items").fetchall() \
            == [("old", None, None)]
        # new rows with threads are stored beside the old ones; the old row counts as a post
        items = [item_from_mapping(r, max_body_chars=10_000) for r in DESK]
        save_batch(con, "desk", Batch(items=items), run_id="r2", salt="s")
        pulse = compute_pulse(con, PulseConfig(nights=1), as_of=AS_OF)
        assert (pulse.periods[0].posts, pulse.periods[0].customer_threads) == (1, 0)
        assert [u.thread_id for u in pulse.unanswered] == ["d2"]
    with closing(db.connect(tmp_path / "w.duckdb")) as con:  # idempotent on the next open
        assert con.execute("SELECT count(*) FROM thread_replies").fetchone()[0] == 4
