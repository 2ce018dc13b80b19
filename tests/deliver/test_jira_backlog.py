"""Matching themes against the existing Jira backlog: link instead of create."""

from __future__ import annotations

from datetime import timedelta

import pytest

from feedback_pipeline.deliver.jira import JiraSink
from feedback_pipeline.warehouse.runs import Run

from .conftest import AS_OF, ranked, seed_theme


def night(con, settings, ids, embedder, day=0):
    as_of = AS_OF + timedelta(days=day)
    return JiraSink(settings, embedder=embedder).deliver(Run(con, f"n{day}", as_of),
                                                         ranked(con, ids, as_of=as_of))


def _backlog(emu) -> str:
    emu.add_issue("Dark mode is missing", "Several users would like a dark theme")
    key = emu.add_issue("CSV export times out for large reports",
                        "The CSV export of a large report times out after 30 seconds.")
    emu.add_issue("Old closed thing", "Closed long ago", status="Done")
    return key


def test_backlog_match_links_instead_of_creating(jira_emu, make_settings, warehouse,
                                                 hash_embedder):
    key = _backlog(jira_emu)
    seed_theme(warehouse, 1, 5)
    settings = make_settings(jira_emu, backlog_similarity=0.5,
                             evidence_url_template="https://fb.example.com/themes/{theme_id}")
    for day in range(3):
        night(warehouse, settings, [1], hash_embedder, day=day)
    assert len(jira_emu.state.issues) == 3  # nothing created
    issue = jira_emu.state.issues[key]
    assert "feedback-theme-1" in issue["fields"]["labels"]
    assert issue["fields"]["summary"] == "CSV export times out for large reports"
    links = jira_emu.state.remotelinks[key]
    assert len(links) == 1  # upserted by globalId every night
    assert links[0]["globalId"] == "feedback-pipeline:theme:1"
    assert links[0]["object"]["url"] == "https://fb.example.com/themes/1"
    comments = jira_emu.state.comments[key]
    assert len(comments) == 1 and "customer feedback matches this issue" in comments[0]["body"]
    decision = warehouse.execute("SELECT theme_id, issue_key, decision, similarity >= threshold "
                                 "FROM jira_backlog_matches").fetchall()
    assert decision == [(1, key, "linked", True)]
    assert warehouse.execute("SELECT origin FROM jira_issues").fetchall() == [("linked",)]


def test_dissimilar_backlog_creates_and_records_similarity(cloud_emu, make_settings, warehouse,
                                                           hash_embedder):
    cloud_emu.add_issue("Billing address cannot be changed", "Invoices show the old address")
    seed_theme(warehouse, 1, 5)
    night(warehouse, make_settings(cloud_emu), [1], hash_embedder)
    assert len(cloud_emu.state.issues) == 2
    key, sim, decision = warehouse.execute(
        "SELECT issue_key, similarity, decision FROM jira_backlog_matches").fetchone()
    assert (key, decision) == ("FB-1", "created") and sim < 0.6


@pytest.mark.slow
def test_backlog_match_with_the_real_model(cloud_emu, make_settings, warehouse, embedder):
    key = _backlog(cloud_emu)
    cloud_emu.add_issue("Password reset e-mail never arrives on the phone app",
                        "Reset link from the mobile app does not work")
    seed_theme(warehouse, 1, 5)
    seed_theme(warehouse, 2, 5)
    night(warehouse, make_settings(cloud_emu), [1, 2], embedder)
    rows = warehouse.execute("SELECT theme_id, issue_key, decision, round(similarity, 2) "
                             "FROM jira_backlog_matches ORDER BY theme_id").fetchall()
    print(rows)
    assert rows[0][:3] == (1, key, "linked")
    assert rows[1][:3] == (2, "FB-1", "linked")
    assert len(cloud_emu.state.issues) == 4
