"""Intercom (API 2.11): the emulator and the connector against Intercom's OpenAPI description.

Deviation (in ``contract.py``): 2.11 refers to an undefined ``custom_attributes`` schema, which
2.14 defines as an object; nothing else is waived.
"""

from __future__ import annotations

import json

import pytest

from emulators.contract import check_exchanges, spec
from emulators.intercom import IntercomEmulator
from feedback_pipeline.ingest.intercom.config import IntercomSourceConfig
from feedback_pipeline.ingest.intercom.fetch import IntercomSource
from feedback_pipeline.ingest.stage import get_cursor, ingest
from feedback_pipeline.report.status import stage_line

CONSUMED = {"POST /conversations/search", "GET /conversations/{conversation_id}"}


@pytest.fixture
def emu(monkeypatch: pytest.MonkeyPatch):
    with IntercomEmulator() as emulator:
        monkeypatch.setenv("FP_INTERCOM_TOKEN", emulator.token)
        yield emulator


def source(emu: IntercomEmulator, **overrides) -> IntercomSource:
    return IntercomSource(IntercomSourceConfig(
        name="ic", base_url=emu.url, page_size=2, max_retries=2, max_retry_wait_seconds=2,
        timeout_seconds=5, **overrides))


def seed(emu: IntercomEmulator, n: int = 4) -> None:
    for i in range(1, n + 1):
        emu.add_conversation(f"c{i}", f"Export {i}", f"<p>Export fails {i}</p>", tags=("export",))
        emu.add_part(f"c{i}", "Still broken")
        emu.add_part(f"c{i}", "We are on it", author_type="admin", author="admin-1")


def ids(warehouse) -> set[str]:
    return {r[0] for r in warehouse.execute("SELECT external_id FROM items").fetchall()}


def test_contract_intercom_every_exchange_matches_the_description(emu, warehouse):
    seed(emu)
    emu.add_part("c1", "Fin here", author_type="bot", author="fin")
    ingest(warehouse, [source(emu)], run_id="r1")
    assert warehouse.execute("SELECT list(author_role ORDER BY created_at, reply_id) "
                             "FROM thread_replies WHERE thread_id = 'c1'").fetchone()[0] == \
        ["customer", "staff", "bot"]
    emu.add_part("c2", "And now it crashes")
    ingest(warehouse, [source(emu)], run_id="r2")

    validated = check_exchanges(spec("intercom"), emu.requests)

    assert set(validated) == CONSUMED, validated


def test_contract_intercom_404_conversation_is_skipped_and_retried_next_night(emu, warehouse):
    seed(emu)
    emu.unreadable("c2")  # still in the search index, gone for GET
    stats = ingest(warehouse, [source(emu)], run_id="r1")
    s = stats.sources["ic"]
    assert s.error is None
    assert ids(warehouse) == {"c1", "c3", "c4"}
    assert any("c2" in w and "404" in w for w in s.warnings)
    assert "warning(s)" in stage_line("ingest", stats.as_dict())
    assert json.loads(get_cursor(warehouse, "ic"))["retry"] == {"c2": 1}
    assert any(r.response.status == 404 for r in emu.requests)
    check_exchanges(spec("intercom"), emu.requests)  # the 404 body is the described error

    emu.unreadable("c2", readable=True)
    # the next night's search no longer lists c2 (nothing changed since): the retry list reads it
    emu.clock.tick()
    second = ingest(warehouse, [source(emu)], run_id="r2").sources["ic"]
    assert second.error is None
    assert ids(warehouse) == {"c1", "c2", "c3", "c4"}
    assert json.loads(get_cursor(warehouse, "ic"))["retry"] == {}


def test_contract_intercom_404_is_given_up_after_the_configured_nights(emu, warehouse):
    seed(emu, 1)
    emu.unreadable("c1")
    for night in range(1, 3):
        s = ingest(warehouse, [source(emu, missing_retry_nights=2)],
                   run_id=f"r{night}").sources["ic"]
        assert s.error is None
    assert json.loads(get_cursor(warehouse, "ic"))["retry"] == {}
    assert any("given up" in w for w in s.warnings)


def test_contract_intercom_long_thread_truncation_is_in_the_run_summary(emu, warehouse):
    emu.add_conversation("long", "Export", "<p>Export fails</p>")
    for k in range(503):
        emu.add_part("long", f"part {k}")
    stats = ingest(warehouse, [source(emu)], run_id="r1")
    s = stats.sources["ic"]
    assert s.error is None and ids(warehouse) == {"long"}
    assert any("long" in w and "500 most recent" in w for w in s.warnings)
    assert "500 most recent" in stage_line("ingest", stats.as_dict())
    body = warehouse.execute("SELECT body FROM items").fetchone()[0]
    assert "part 2\n" not in body + "\n" and "part 502" in body  # the 3 oldest were cut
