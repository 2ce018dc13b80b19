"""The nightly flow end to end on real demo texts plus bad input, run twice."""

from __future__ import annotations

import json

import duckdb
import pytest

from feedback_pipeline.config import load_settings

from .conftest import BAD_LINES, demo_subset

pytestmark = pytest.mark.slow


def _count(con: duckdb.DuckDBPyConnection, sql: str) -> int:
    return con.execute(sql).fetchone()[0]


def test_nightly_flow_twice(prefect_harness, fixture_config):
    from feedback_pipeline_flows.nightly import nightly

    settings = load_settings(fixture_config)
    expected = len(demo_subset())

    first = nightly(config_path=str(fixture_config))
    assert first["ingest"]["new"] == expected
    assert first["ingest"]["rejected"] == len(BAD_LINES)
    assert first["ingest"]["failed_sources"] == []
    assert first["embed"]["embedded"] > 0.9 * expected
    assert first["cluster"]["themes"] >= 6
    assert first["cluster"]["noise_fraction"] <= 0.2

    con = duckdb.connect(str(settings.warehouse), read_only=True)
    try:
        assert _count(con, "SELECT count(*) FROM items") == expected
        reasons = dict(con.execute("SELECT position, reason FROM rejected_items").fetchall())
        assert len(reasons) == len(BAD_LINES)
        assert "missing required field(s): created_at" in reasons["bad.jsonl:1"]
        assert "malformed JSON" in reasons["bad.jsonl:2"]
        assert "must be a JSON object" in reasons["bad.jsonl:3"]
        assert "kind" in reasons["bad.jsonl:4"]
        assert "not valid utf-8" in reasons["bad.jsonl:5"]
        assert "over the limit" in reasons["bad.jsonl:6"]
        assert "empty" in reasons["bad.jsonl:7"]
        ranked = con.execute(
            "SELECT theme_id, breakdown FROM theme_scores WHERE run_id = ?", [first["run_id"]]
        ).fetchall()
        assert len(ranked) >= 6
        assert set(json.loads(ranked[0][1])) == {
            "volume", "authors", "growth", "recency", "votes", "support_share", "coherence", "value"}
        assert _count(con, "SELECT count(*) FROM themes WHERE cardinality(keywords) > 0 "
                           "AND json_array_length(quotes) >= 3") >= 6
        deliveries = _count(con, "SELECT count(*) FROM deliveries")
        first_members = set(con.execute(
            "SELECT theme_id, source, external_id FROM item_themes WHERE theme_id <> -1"
        ).fetchall())
        runs = con.execute("SELECT status FROM runs").fetchall()
    finally:
        con.close()
    assert runs == [("completed",)]
    outbox = settings.deliver.outbox
    assert len(list((outbox / "jira").glob("theme-*.json"))) == min(len(ranked), 20)
    assert len(list((outbox / "slack").glob("digest-*.json"))) == 1

    # The second run re-clusters everything (as the schedule does every few nights): the same
    # data must come back as the same themes with the same ids, not merely be left alone.
    second = nightly(config_path=str(fixture_config), full_recluster=True)
    assert second["ingest"]["fetched"] == 0  # unchanged files are skipped by their cursor
    assert second["embed"]["embedded"] == 0
    assert second["cluster"]["mode"] == "full"
    assert second["cluster"]["items"] == first["cluster"]["items"]
    assert second["cluster"]["new_themes"] == 0
    assert second["cluster"]["faded_themes"] == 0 and second["cluster"]["merged_themes"] == 0
    assert second["deliver"]["created"] == 0

    con = duckdb.connect(str(settings.warehouse), read_only=True)
    try:
        assert _count(con, "SELECT count(*) FROM items") == expected
        assert _count(con, "SELECT count(*) FROM rejected_items") == len(BAD_LINES)
        assert _count(con, "SELECT count(*) FROM deliveries") == deliveries
        assert _count(con, "SELECT count(*) FROM embeddings") == first["embed"]["embedded"]
        first_themes = {r[0] for r in ranked}
        second_members = set(con.execute(
            "SELECT theme_id, source, external_id FROM item_themes WHERE theme_id <> -1"
        ).fetchall())
        second_themes = {r[0] for r in con.execute(
            "SELECT theme_id FROM theme_scores WHERE run_id = ?", [second["run_id"]]).fetchall()}
    finally:
        con.close()
    assert second_themes == first_themes  # same data, re-clustered: same theme ids
    assert second_members == first_members  # and the same items in each
    assert len(list((outbox / "jira").glob("theme-*.json"))) == min(len(ranked), 20)
