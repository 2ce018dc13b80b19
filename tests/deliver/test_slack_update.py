"""A digest edited in place keeps what makes it findable after a crash (its metadata) and shows
the new version (cases surviving mutants showed untested, see RELIABILITY.md)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from feedback_pipeline.deliver.slack import SlackDigestSink
from feedback_pipeline.warehouse.runs import Run

from .conftest import seed_ranked

AS_OF = datetime(2026, 11, 20, 18, 0, tzinfo=UTC)


def test_an_updated_digest_has_the_new_blocks_and_keeps_its_metadata(
        warehouse, slack_emulator, slack_settings, make_ranked_theme):
    sink = SlackDigestSink(slack_settings())
    first = [make_ranked_theme(theme_id=1, rank=1, title="CSV export times out")]
    later = [make_ranked_theme(theme_id=1, rank=1, title="CSV export fails for big reports")]

    seed_ranked(warehouse, first)
    sink.deliver(Run(warehouse, "r1", AS_OF), first)
    out = sink.deliver(Run(warehouse, "r2", AS_OF), later)

    assert out["slack"] == "updated"
    main = next(m for m in slack_emulator.channel_messages() if "thread_ts" not in m
                or m["thread_ts"] == m["ts"])
    blocks = json.dumps(main["blocks"])
    assert "CSV export fails for big reports" in blocks and "CSV export times out" not in blocks
    assert main["metadata"] == {"event_type": "feedback_digest",
                                "event_payload": {"digest_key": "slack:digest:2026-11-20",
                                                  "part": "main"}}
