"""``arrow_batches`` streams: its first batch arrives before DuckDB has produced the whole
result (issue #17: an ``execute()`` result is materialised whole first, 2.7 GiB for a million
vectors), so no stage holds more than a batch."""

from __future__ import annotations

import duckdb
import pytest

from feedback_pipeline.warehouse.db import arrow_batches, connect

# Fails on its last row only: a materialised result fails before the first batch.
FAILS_AT_THE_END = ("SELECT CASE WHEN i < $n - 1 THEN i ELSE error('reached the last row') END "
                    "AS i FROM range($n) t(i)")


def test_the_first_batches_arrive_before_the_query_reaches_its_last_row():
    con = connect(":memory:")
    stream = arrow_batches(con, FAILS_AT_THE_END, {"n": 20_000_000}, rows=1_000)
    first = next(stream)
    assert first.num_rows <= 2_000 and first["i"][0].as_py() == 0
    # Past the first batch DuckDB's error comes through pyarrow's reader.
    with pytest.raises((duckdb.Error, OSError), match="reached the last row"):
        for _ in stream:
            pass


def test_the_connection_writes_while_a_stream_reads_the_same_table(tmp_path):
    con = connect(tmp_path / "wh.duckdb")
    con.execute("CREATE TABLE t AS SELECT i, 0 AS done FROM range(50_000) r(i)")
    seen = 0
    for batch in arrow_batches(con, "SELECT i FROM t WHERE done = 0", {}, rows=5_000):
        ids = batch["i"].to_pylist()
        con.execute("UPDATE t SET done = 1 WHERE list_contains(?, i)", [ids])
        seen += len(ids)
    # The stream read the snapshot it started on: every row once, none twice.
    assert seen == 50_000
    assert con.execute("SELECT count(*) FROM t WHERE done = 1").fetchone()[0] == 50_000
