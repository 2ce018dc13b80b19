"""The Jira sink over several nights against the emulator, with the real ``jira`` client."""

from __future__ import annotations

from datetime import timedelta

import pytest

from feedback_pipeline.deliver.jira import JiraSink
from feedback_pipeline.deliver.jira.render import EVIDENCE_MARKER, split_description
from feedback_pipeline.errors import SinkError
from feedback_pipeline.warehouse.runs import Run

from .conftest import AS_OF, ranked, seed_theme


def night(con, settings, theme_ids, embedder, *, day: int = 0) -> dict:
    as_of = AS_OF + timedelta(days=day)
    return JiraSink(settings, embedder=embedder).deliver(Run(con, f"n{day}", as_of),
                                                         ranked(con, theme_ids, as_of=as_of))


def issues_of(emu, theme_id: int) -> list[dict]:
    return emu.issues_with_label(f"feedback-theme-{theme_id}")


def test_create_once_then_refresh_without_duplicates(jira_emu, make_settings, warehouse,
                                                      hash_embedder):
    settings = make_settings(jira_emu)
    seed_theme(warehouse, 1, 6)
    seed_theme(warehouse, 2, 4)
    first = night(warehouse, settings, [1, 2], hash_embedder)
    assert (first["created"], first["issues"]) == (2, 2)
    for day in range(1, 5):
        seed_theme(warehouse, 1, 1, offset=100 + day, start=AS_OF + timedelta(days=day - 1))
        stats = night(warehouse, settings, [1, 2], hash_embedder, day=day)
        assert stats["created"] == 0
    assert len(jira_emu.state.issues) == 2
    (issue,) = issues_of(jira_emu, 1)
    assert issue["fields"]["summary"] == \
        "Customer feedback: CSV export times out on large reports"  # no count: stable
    _, section = split_description(issue["fields"]["description"])
    assert "10 reports from 10 distinct customers" in section
    assert issue["fields"]["labels"] == ["feedback-theme-1", "customer-feedback"]
    assert issue["fields"]["priority"] == {"name": "High"}
    rows = warehouse.execute("SELECT theme_id, issue_key, origin FROM jira_issues "
                             "ORDER BY theme_id").fetchall()
    assert rows == [(1, issue["key"], "created"), (2, issues_of(jira_emu, 2)[0]["key"], "created")]
    assert warehouse.execute("SELECT DISTINCT status FROM deliveries").fetchall() == [("sent",)]
    # Theme 2 did not change: no update request for its issue after the first night, while
    # theme 1, which grew every night, was updated (so the request pattern does match updates).
    def updates(issue: dict) -> list:
        return jira_emu.calls("PUT", rf"/issue/({issue['id']}|{issue['key']})$")

    (issue2,) = issues_of(jira_emu, 2)
    assert updates(issue2) == []
    assert len(updates(issue)) >= 1


def test_outbox_row_is_pending_before_the_create_call(cloud_emu, make_settings, warehouse,
                                                      hash_embedder):
    seed_theme(warehouse, 1, 5)
    cloud_emu.fail_next("POST", r"/rest/api/2/issue$", 500, {"errorMessages": ["boom"]})
    with pytest.raises(SinkError, match="HTTP 500"):
        night(warehouse, make_settings(cloud_emu), [1], hash_embedder)
    status, payload, error = warehouse.execute(
        "SELECT status, payload, error FROM deliveries WHERE delivery_key = 'jira:theme:1'"
    ).fetchone()
    assert status == "failed" and "boom" in error
    assert '"summary": "Customer feedback: CSV export' in payload
    stats = night(warehouse, make_settings(cloud_emu), [1], hash_embedder, day=1)
    assert stats["created"] == 1 and len(cloud_emu.state.issues) == 1
    assert warehouse.execute("SELECT status, external_ref FROM deliveries").fetchall() == \
        [("sent", "FB-1")]


def test_crash_between_create_and_recording_then_rerun_keeps_one_issue(
        jira_emu, make_settings, warehouse, hash_embedder):
    # Only the crash night has a short timeout, well under the emulator's delay; the rerun
    # has the generous one (a busy machine must not time it out).
    crash = make_settings(jira_emu, timeout_seconds=2.0)
    seed_theme(warehouse, 1, 5)
    jira_emu.crash_after_create(delay=10)
    with pytest.raises(SinkError, match="timeout during create"):
        night(warehouse, crash, [1], hash_embedder)
    assert len(jira_emu.state.issues) == 1  # Jira has it; the warehouse does not
    assert warehouse.execute("SELECT count(*) FROM jira_issues").fetchone() == (0,)
    assert len(jira_emu.calls("POST", r"/issue$")) == 1  # the create was not retried
    # The failure is on record, for the theme, with its reason and the run that had it.
    (failure,) = warehouse.execute("SELECT theme_id, issue_key, detail, run_id IS NOT NULL "
                                   "FROM jira_events WHERE event = 'failed'").fetchall()
    assert failure[0] == 1 and failure[1] is None and failure[3]
    assert failure[2].startswith("timeout during create")
    stats = night(warehouse, make_settings(jira_emu), [1], hash_embedder, day=1)
    assert (stats["adopted"], stats["created"]) == (1, 0)
    assert len(jira_emu.state.issues) == 1
    assert warehouse.execute("SELECT issue_key, origin FROM jira_issues").fetchall() == \
        [("FB-1", "adopted")]
    search = "/search/jql" if jira_emu.cloud else "/search"
    assert any("labels in (feedback-theme-1)" in r.query["jql"][0]
               for r in jira_emu.calls("GET", search + "$"))


def test_lost_warehouse_finds_issues_by_label(cloud_emu, make_settings, hash_embedder):
    from feedback_pipeline.warehouse import db

    settings = make_settings(cloud_emu)
    for _ in range(2):  # two fresh warehouses, same Jira
        con = db.connect(":memory:")
        seed_theme(con, 1, 5)
        night(con, settings, [1], hash_embedder)
        con.close()
    assert len(cloud_emu.state.issues) == 1


def test_done_then_resurge_comments_exactly_once(cloud_emu, make_settings, warehouse,
                                                 hash_embedder):
    settings = make_settings(cloud_emu)
    seed_theme(warehouse, 1, 5)
    night(warehouse, settings, [1], hash_embedder)
    cloud_emu.close_issue("FB-1", "Done", at=AS_OF)
    night(warehouse, settings, [1], hash_embedder, day=1)
    assert cloud_emu.state.comments["FB-1"] == []  # nothing new yet
    seed_theme(warehouse, 1, 4, offset=50, start=AS_OF + timedelta(hours=1))
    for day in range(2, 6):
        stats = night(warehouse, settings, [1], hash_embedder, day=day)
        assert stats["created"] == 0
    comments = cloud_emu.state.comments["FB-1"]
    assert len(comments) == 1
    assert "resurged" in comments[0]["body"] and "*4* new reports" in comments[0]["body"]
    assert len(cloud_emu.state.issues) == 1
    assert cloud_emu.state.issues["FB-1"]["fields"]["status"]["name"] == "Done"


@pytest.mark.parametrize("resolution", ["Won't Do", "Declined"])
def test_wont_do_is_silent(cloud_emu, make_settings, warehouse, hash_embedder, resolution):
    settings = make_settings(cloud_emu)
    seed_theme(warehouse, 1, 5)
    night(warehouse, settings, [1], hash_embedder)
    cloud_emu.close_issue("FB-1", resolution, at=AS_OF)
    before = len(cloud_emu.requests)
    seed_theme(warehouse, 1, 20, offset=50, start=AS_OF + timedelta(hours=1))
    for day in range(1, 4):
        night(warehouse, settings, [1], hash_embedder, day=day)
    writes = [r for r in cloud_emu.requests[before:] if r.method in ("POST", "PUT")]
    assert writes == []
    assert cloud_emu.state.comments["FB-1"] == [] and len(cloud_emu.state.issues) == 1


def test_wont_do_comment_when_configured(cloud_emu, make_settings, warehouse, hash_embedder):
    settings = make_settings(cloud_emu, comment_on_declined=True)
    seed_theme(warehouse, 1, 5)
    night(warehouse, settings, [1], hash_embedder)
    cloud_emu.close_issue("FB-1", "Won't Do", at=AS_OF)
    seed_theme(warehouse, 1, 5, offset=50, start=AS_OF + timedelta(hours=1))
    night(warehouse, settings, [1], hash_embedder, day=1)
    night(warehouse, settings, [1], hash_embedder, day=2)
    assert len(cloud_emu.state.comments["FB-1"]) == 1


def test_pm_summary_and_description_edits_survive(cloud_emu, make_settings, warehouse,
                                                  hash_embedder):
    settings = make_settings(cloud_emu)
    seed_theme(warehouse, 1, 5)
    night(warehouse, settings, [1], hash_embedder)
    cloud_emu.edit_summary("FB-1", "Export: stream large CSVs")
    f = cloud_emu.state.issues["FB-1"]["fields"]
    f["description"] = "PM notes: ship in Q3.\n" + EVIDENCE_MARKER + \
        f["description"].split(EVIDENCE_MARKER, 1)[1]
    f["priority"] = {"name": "Highest"}
    seed_theme(warehouse, 1, 3, offset=50, start=AS_OF + timedelta(hours=1))
    night(warehouse, settings, [1], hash_embedder, day=1)
    f = cloud_emu.state.issues["FB-1"]["fields"]
    assert f["summary"] == "Export: stream large CSVs"
    assert f["priority"] == {"name": "Highest"}
    above, section = split_description(f["description"])
    assert above.startswith("PM notes: ship in Q3.")
    assert "8 reports from 8 distinct customers" in section
    assert warehouse.execute("SELECT count(*) FROM jira_events WHERE event = 'kept_human_edit'"
                             ).fetchone() == (1,)


def test_significant_change_comments_only_when_volume_doubles_or_new_source(
        cloud_emu, make_settings, warehouse, hash_embedder):
    settings = make_settings(cloud_emu)
    seed_theme(warehouse, 1, 4)
    night(warehouse, settings, [1], hash_embedder)
    seed_theme(warehouse, 1, 2, offset=10, start=AS_OF - timedelta(days=1))  # 6 < 2 x 4
    night(warehouse, settings, [1], hash_embedder, day=1)
    assert cloud_emu.state.comments["FB-1"] == []
    seed_theme(warehouse, 1, 2, offset=20, start=AS_OF - timedelta(days=1))  # 8 = 2 x 4
    night(warehouse, settings, [1], hash_embedder, day=2)
    night(warehouse, settings, [1], hash_embedder, day=3)
    assert len(cloud_emu.state.comments["FB-1"]) == 1
    seed_theme(warehouse, 1, 1, source="helpdesk", start=AS_OF - timedelta(days=1))
    night(warehouse, settings, [1], hash_embedder, day=4)
    night(warehouse, settings, [1], hash_embedder, day=5)
    comments = cloud_emu.state.comments["FB-1"]
    assert len(comments) == 2 and "New source(s): helpdesk" in comments[1]["body"]
