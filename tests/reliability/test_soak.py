"""Load: 200,000 Zendesk tickets over 200 export pages from the local emulator (127.0.0.1 only),
with a seeded random 8% of requests answered 429/500/502/503, ingested into a DuckDB file; the
run ends with exact counts, no page fetched twice, one retry per injected fault and the cursor
at the end of the stream.

``FP_SOAK_ITEMS`` changes the number of tickets (default 200,000); ``FP_SOAK_SEED`` the faults.
"""

from __future__ import annotations

import logging
import os
import time

import pytest
from emulators.zendesk import EXPORT, ZendeskEmulator, _cursor

from feedback_pipeline.ingest.connector import load_cursor
from feedback_pipeline.ingest.stage import get_cursor, ingest
from feedback_pipeline.ingest.zendesk.config import ZendeskSourceConfig
from feedback_pipeline.ingest.zendesk.fetch import ZendeskSource
from feedback_pipeline.warehouse import db

pytestmark = pytest.mark.reliability

ITEMS = int(os.environ.get("FP_SOAK_ITEMS", "200000"))
SEED = int(os.environ.get("FP_SOAK_SEED", "20240501"))
PAGE = 1_000
FAULT_RATE = 0.08


class RetryLog(logging.Handler):
    """The HTTP client's retry warnings (one per retried request)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def test_soak_200k_tickets_with_random_429_and_5xx(tmp_path, monkeypatch):
    retries = RetryLog()
    client_log = logging.getLogger("feedback_pipeline.ingest")
    client_log.addHandler(retries)
    with ZendeskEmulator() as emu:
        monkeypatch.setenv("FP_ZENDESK_TOKEN", emu.token)
        emu.add_tickets(1, ITEMS, tags=("export",))
        emu.chaos(FAULT_RATE, seed=SEED, max_in_a_row=2)
        # Five attempts per request outlast two faults in a row; only 500/502 wait (1 s, 2 s).
        config = ZendeskSourceConfig(name="zendesk", base_url=emu.url, email=emu.email,
                                     page_size=PAGE, max_comments=0, max_retries=5,
                                     max_retry_wait_seconds=10, timeout_seconds=30)
        con = db.connect(tmp_path / "soak.duckdb")
        try:
            started = time.perf_counter()
            stats = ingest(con, [ZendeskSource(config)], run_id="soak").sources["zendesk"]
            wall = time.perf_counter() - started

            rows, distinct, tagged = con.execute(
                "SELECT count(*), count(DISTINCT external_id), "
                "count(*) FILTER (WHERE list_contains(tags, 'channel:web')) "
                "FROM items WHERE source = 'zendesk'").fetchone()
            lowest, highest = con.execute(
                "SELECT min(external_id::BIGINT), max(external_id::BIGINT) FROM items").fetchone()
            rejected = con.execute("SELECT count(*) FROM rejected_items").fetchone()[0]
            cursor = load_cursor(get_cursor(con, "zendesk"))
            export_requests = len(emu.paths(EXPORT))
            injected = dict(sorted(emu.injected.items()))
            emu.chaos(0, seed=SEED)
            again = ingest(con, [ZendeskSource(config)], run_id="soak-2").sources["zendesk"]
        finally:
            con.close()
            client_log.removeHandler(retries)

    pages = -(-ITEMS // PAGE)
    print(f"\nsoak: {ITEMS:,} tickets, {pages} pages, {export_requests} requests, "
          f"injected faults {injected} (total {sum(injected.values())}), "
          f"{len(retries.messages)} retries, {wall:.1f} s wall "
          f"({ITEMS / wall:,.0f} items/s)")

    assert stats.error is None
    assert (stats.fetched, stats.new, stats.rejected) == (ITEMS, ITEMS, 0)
    assert (rows, distinct, tagged, rejected) == (ITEMS, ITEMS, ITEMS, 0)
    assert (lowest, highest) == (1, ITEMS)
    # Every ticket was served exactly once: a retried page was never half-read and re-read.
    assert len(emu.served) == ITEMS and len(set(emu.served)) == ITEMS
    # Each injected fault cost exactly one retry, and nothing else did.
    assert sum(injected.values()) > 0
    assert len(retries.messages) == sum(injected.values())
    assert export_requests == pages + sum(injected.values())
    # The cursor stands at the end of the stream: the next run fetches nothing new.
    assert cursor == {"after_cursor": _cursor(ITEMS)}
    assert (again.error, again.new, again.changed) == (None, 0, 0)
    # The wall time is printed, never asserted: throughput is measured in bench/ (BENCHMARKS.md).
