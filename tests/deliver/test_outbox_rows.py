"""The deliveries table every sink records its intent and outcome in (deliver/outbox.py)."""

from __future__ import annotations

from feedback_pipeline.deliver.outbox import (
    note_error,
    payload,
    record,
    set_external_ref,
    settle,
    unsettled_themes,
)


def _row(con, key: str) -> tuple:
    return con.execute("SELECT sink, theme_id, run_id, status, external_ref, error FROM "
                       "deliveries WHERE delivery_key = ?", [key]).fetchone()


def test_record_says_created_updated_or_unchanged_and_clears_the_old_error(warehouse):
    args = {"sink": "jira", "theme_id": 7, "status": "pending"}

    assert record(warehouse, "jira:theme:7", run_id="r1", payload={"a": 1}, **args) == "created"
    settle(warehouse, "jira:theme:7", status="failed", error="HTTP 500")
    assert record(warehouse, "jira:theme:7", run_id="r2", payload={"a": 1}, **args) == \
        "unchanged"
    # Recorded all the same (a sink about to send always records): new run, error cleared.
    assert _row(warehouse, "jira:theme:7") == ("jira", 7, "r2", "pending", None, None)
    assert record(warehouse, "jira:theme:7", run_id="r3", payload={"a": 2}, **args) == "updated"


def test_skip_unchanged_leaves_the_row_alone(warehouse):
    args = {"sink": "outbox", "theme_id": 3, "payload": {"b": 1}}
    record(warehouse, "jira:theme:3", run_id="r1", status="dry_run", **args)

    assert record(warehouse, "jira:theme:3", run_id="r2", status="dry_run",
                  skip_unchanged=True, **args) == "unchanged"
    assert _row(warehouse, "jira:theme:3")[2] == "r1"
    assert record(warehouse, "jira:theme:3", run_id="r3", status="dry_run",
                  **args) == "unchanged"
    assert _row(warehouse, "jira:theme:3")[2] == "r3"


def test_outcome_external_ref_and_errors(warehouse):
    for key, theme in (("jira:theme:1", 1), ("jira:theme:2", 2), ("slack:digest:d", None)):
        record(warehouse, key, sink=key.split(":")[0], theme_id=theme, run_id="r1",
               payload={"k": key}, status="pending")
    set_external_ref(warehouse, "jira:theme:1", "FB-1")
    settle(warehouse, "jira:theme:1", status="sent")  # keeps the ref it already has
    note_error(warehouse, "jira", "timeout during create")

    assert _row(warehouse, "jira:theme:1") == ("jira", 1, "r1", "sent", "FB-1", None)
    assert _row(warehouse, "jira:theme:2") == ("jira", 2, "r1", "pending", None,
                                               "timeout during create")
    assert _row(warehouse, "slack:digest:d")[5] is None  # another sink's row
    assert unsettled_themes(warehouse, "jira", "jira:theme:") == {2}
    settle(warehouse, "jira:theme:2", status="failed", external_ref="FB-2", error="HTTP 500")
    assert _row(warehouse, "jira:theme:2")[3:] == ("failed", "FB-2", "HTTP 500")
    assert unsettled_themes(warehouse, "jira", "jira:theme:") == {2}
    assert unsettled_themes(warehouse, "jira", "jira:lineage:") == set()
    set_external_ref(warehouse, "jira:theme:2", None)
    assert _row(warehouse, "jira:theme:2")[4] is None


def test_payload_is_the_request_last_recorded_under_the_key(warehouse):
    # What crash recovery re-reads (deliver/jira/recover.py): the latest request, or None.
    assert payload(warehouse, "jira:theme:7") is None
    args = {"sink": "jira", "theme_id": 7, "status": "pending"}
    record(warehouse, "jira:theme:7", run_id="r1", payload={"create": {"n": 1}}, **args)
    record(warehouse, "jira:theme:7", run_id="r2", payload={"create": {"n": 2}, "after_key": 41},
           **args)
    record(warehouse, "jira:theme:8", run_id="r2", payload={"create": {"n": 3}},
           **{**args, "theme_id": 8})
    assert payload(warehouse, "jira:theme:7") == {"create": {"n": 2}, "after_key": 41}
    assert payload(warehouse, "jira:theme:9") is None
