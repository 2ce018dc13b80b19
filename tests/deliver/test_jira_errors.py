"""Rate limits, server errors, permission and field errors, paging, credentials."""

from __future__ import annotations

import base64
import logging

import pytest

from feedback_pipeline.deliver.jira import JiraSink, build_client
from feedback_pipeline.errors import ConfigError, SinkError
from feedback_pipeline.warehouse.runs import Run

from .conftest import AS_OF, ranked, seed_theme


def sync(con, settings, theme_ids, embedder) -> dict:
    return JiraSink(settings, embedder=embedder).deliver(Run(con, "r1", AS_OF),
                                                         ranked(con, theme_ids))


def test_429_with_retry_after_then_success(cloud_emu, make_settings, warehouse, hash_embedder):
    seed_theme(warehouse, 1, 5)
    cloud_emu.fail_next("POST", r"/issue$", 429, {"errorMessages": ["Rate limit exceeded."]},
                        headers={"Retry-After": "1", "X-RateLimit-Limit": "10",
                                 "RateLimit-Reason": "jira-burst-based"})
    stats = sync(warehouse, make_settings(cloud_emu), [1], hash_embedder)
    assert stats["created"] == 1 and len(cloud_emu.state.issues) == 1
    assert [r.status for r in cloud_emu.calls("POST", r"/issue$")] == [429, 201]


def test_503_is_retried_by_the_library(cloud_emu, make_settings, warehouse, hash_embedder):
    seed_theme(warehouse, 1, 5)
    cloud_emu.fail_next("GET", r"/search/jql$", 503, {"message": "busy"},
                        headers={"Retry-After": "1"})
    assert sync(warehouse, make_settings(cloud_emu), [1], hash_embedder)["created"] == 1


def test_500_keeps_the_delivery_for_the_next_run(cloud_emu, make_settings, warehouse,
                                                  hash_embedder):
    seed_theme(warehouse, 1, 5)
    seed_theme(warehouse, 2, 5)
    cloud_emu.fail_next("POST", r"/issue$", 500, {"errorMessages": ["Internal server error"]})
    with pytest.raises(SinkError, match="1 Jira request"):
        sync(warehouse, make_settings(cloud_emu), [1, 2], hash_embedder)
    assert warehouse.execute("SELECT theme_id, status FROM deliveries ORDER BY 1").fetchall() == \
        [(1, "failed"), (2, "sent")]
    stats = sync(warehouse, make_settings(cloud_emu), [1, 2], hash_embedder)
    assert stats["created"] == 1 and len(cloud_emu.state.issues) == 2


def test_403_names_the_project_and_permission(cloud_emu, make_settings, warehouse,
                                              hash_embedder):
    seed_theme(warehouse, 1, 5)
    cloud_emu.fail_next("POST", r"/issue$", 403, {"errorMessages": [
        "You do not have permission to create issues in this project."], "errors": {}})
    with pytest.raises(SinkError) as info:
        sync(warehouse, make_settings(cloud_emu), [1], hash_embedder)
    msg = str(info.value)
    assert "'Create Issues' permission in project FB" in msg
    assert "You do not have permission to create issues" in msg
    status, error = warehouse.execute("SELECT status, error FROM deliveries").fetchone()
    assert status == "pending" and "Create Issues" in error  # the next run delivers it


def test_400_shows_jiras_error_body(cloud_emu, make_settings, warehouse, hash_embedder):
    seed_theme(warehouse, 1, 5)
    settings = make_settings(cloud_emu, custom_fields={"customfield_10010": "x"})
    body = {"errorMessages": [], "errors": {"customfield_10010": "Option value 'x' is not valid"}}
    cloud_emu.fail_next("POST", r"/issue$", 400, body)
    with pytest.raises(SinkError) as info:
        sync(warehouse, settings, [1], hash_embedder)
    assert "(400)" in str(info.value)
    assert '"customfield_10010": "Option value \'x\' is not valid"' in str(info.value)
    assert cloud_emu.calls("POST", r"/issue$")[0].body["fields"]["customfield_10010"] == "x"


def test_field_validation_in_the_emulator_reaches_the_message(cloud_emu, make_settings,
                                                             warehouse, hash_embedder):
    seed_theme(warehouse, 1, 5)
    settings = make_settings(cloud_emu, priorities=[{"max_rank": 99, "name": "Urgent!"}])
    with pytest.raises(SinkError, match="Specify a valid priority"):
        sync(warehouse, settings, [1], hash_embedder)


def test_paging_cloud_token_and_server_startat(jira_emu, make_settings, warehouse,
                                               hash_embedder):
    for k in range(7):
        jira_emu.add_issue(f"Unrelated backlog item number {k}", "nothing to see")
    seed_theme(warehouse, 1, 5)
    sync(warehouse, make_settings(jira_emu), [1], hash_embedder)
    if jira_emu.cloud:
        pages = jira_emu.calls("GET", r"/search/jql$")
        backlog = [r for r in pages if "statusCategory" in r.query["jql"][0]]
        assert [r.query.get("nextPageToken") for r in backlog] == [None, ["3"], ["6"]]
        assert jira_emu.calls("GET", r"/search$") == []
    else:
        pages = [r for r in jira_emu.calls("GET", r"/search$")
                 if "statusCategory" in r.query["jql"][0]]
        assert [r.query.get("startAt", ["0"])[0] for r in pages] == ["0", "3", "6"]
        assert jira_emu.calls("GET", r"/search/jql$") == []
    assert warehouse.execute("SELECT decision FROM jira_backlog_matches").fetchone() == \
        ("created",)


def test_basic_auth_reaches_the_header_and_never_the_log(cloud_emu, make_settings, caplog):
    token = "s3cr3t-api-token"
    cloud_emu.auth = "Basic " + base64.b64encode(f"pm-bot@example.com:{token}".encode()).decode()
    caplog.set_level(logging.DEBUG)
    client = build_client(make_settings(cloud_emu))
    assert client.deploymentType == "Cloud"
    assert cloud_emu.requests[0].headers["Authorization"] == cloud_emu.auth
    assert token not in caplog.text and cloud_emu.auth not in caplog.text


def test_pat_is_sent_as_bearer(jira_emu, make_settings):
    jira_emu.auth = "Bearer s3cr3t-api-token"
    client = build_client(make_settings(jira_emu, auth="pat"))
    assert client.deploymentType == ("Cloud" if jira_emu.cloud else "Server")


def test_wrong_credentials_say_which_variables(cloud_emu, make_settings):
    cloud_emu.auth = "Bearer something-else"
    with pytest.raises(SinkError, match="401.*FP_JIRA_TOKEN"):
        build_client(make_settings(cloud_emu, auth="pat"))


def test_missing_token_fails_at_start_naming_the_variable(cloud_emu, make_settings,
                                                          monkeypatch):
    monkeypatch.delenv("FP_JIRA_TOKEN")
    with pytest.raises(ConfigError, match="export FP_JIRA_TOKEN"):
        build_client(make_settings(cloud_emu))


def test_unreachable_jira_keeps_pending_rows(make_settings, warehouse, hash_embedder,
                                             cloud_emu):
    settings = make_settings(cloud_emu, server="http://127.0.0.1:9", max_retries=0)
    seed_theme(warehouse, 1, 5)
    with pytest.raises(SinkError, match="cannot reach Jira"):
        sync(warehouse, settings, [1], hash_embedder)
    assert warehouse.execute("SELECT status FROM deliveries").fetchone() == ("pending",)
