"""The Jira emulator answers only the fields asked for, as Jira does (the search's and GET
issue's `fields`; ../shared/API-NOTES.md and the v3 description): a sink asking for fields it
then reads without getting them must fail against the emulator too (RELIABILITY.md, mutation
testing)."""

from __future__ import annotations

import pytest

from feedback_pipeline.deliver.jira import build_client

JQL = 'project = "FB" ORDER BY created ASC'


@pytest.fixture
def client(cloud_emu, make_settings):
    client = build_client(make_settings(cloud_emu))
    client.create_issue(fields={"project": {"key": "FB"}, "issuetype": {"name": "Task"},
                                "summary": "Export times out", "description": "details",
                                "labels": ["feedback-theme-1"]}, prefetch=False)
    return client


def test_a_search_answers_only_the_fields_asked_for(client):
    (issue,) = client.search_issues(JQL, fields=["summary", "labels", "nosuchfield"])
    assert issue.key == "FB-1"
    assert issue.raw["fields"] == {"summary": "Export times out", "labels": ["feedback-theme-1"]}

    (issue,) = client.search_issues(JQL, fields="*all,-description")
    assert "description" not in issue.raw["fields"]
    assert issue.raw["fields"]["priority"]["name"] == "Medium"

    (issue,) = client.search_issues(JQL)  # the client asks for *all by default
    assert issue.raw["fields"]["description"] == "details"


def test_asked_for_no_fields_search_jql_answers_ids_only_and_get_issue_every_field(client):
    issue_id = client.issue("FB-1").id
    assert client._get_json("search/jql", params={"jql": JQL})["issues"] == [{"id": issue_id}]
    assert client.issue("FB-1", fields="labels").raw["fields"] == {"labels": ["feedback-theme-1"]}
    assert client.issue("FB-1").raw["fields"]["summary"] == "Export times out"
