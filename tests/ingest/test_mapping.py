"""Payload -> row mapping on recorded payloads (pure functions, exact rows)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from feedback_pipeline.ingest.discourse.mapping import map_topic
from feedback_pipeline.ingest.github.mapping import is_pull_request, map_issue
from feedback_pipeline.ingest.intercom.mapping import map_conversation
from feedback_pipeline.ingest.slack.mapping import is_skipped, map_message
from feedback_pipeline.ingest.zendesk.mapping import map_ticket, organisations
from feedback_pipeline.records import Item, Rejection

PAYLOADS = Path(__file__).parent / "payloads"
LIMIT = 100_000


def load(name: str):
    return json.loads((PAYLOADS / name).read_text(encoding="utf-8"))


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_github_issues():
    issues = load("github_issues.json")
    rows = [map_issue(i, source="gh", repo="o/r", max_body_chars=LIMIT)
            for i in issues if not is_pull_request(i)]
    assert rows[0] == Item(
        source="gh", kind="community_post", external_id="o/r#142",
        created_at=at("2024-05-01T10:00:00"), updated_at=at("2024-05-03T08:30:00"),
        title="Export times out", body="Exporting 50k rows times out.",
        url="https://github.com/o/r/issues/142", author="octocat", tags=("bug", "export"),
        votes=10, author_role="customer",
    )
    assert isinstance(rows[1], Rejection)
    assert rows[1].reason == "both 'title' and 'body' are empty"
    assert (rows[1].source, rows[1].position, rows[1].external_id) == ("gh", "o/r#144", "o/r#144")
    assert len(rows) == 2  # the pull request is excluded


def test_github_bot_author():
    issue = {**load("github_issues.json")[1]}
    del issue["pull_request"]
    row = map_issue(issue, source="gh", repo="o/r", max_body_chars=LIMIT)
    assert isinstance(row, Item) and row.is_bot and row.author == "dependabot[bot]"


def test_zendesk_tickets():
    page = load("zendesk_export.json")
    orgs = organisations(page)
    rows = [map_ticket(t, source="zd", base_url="https://acme.zendesk.com", orgs=orgs,
                       max_body_chars=LIMIT) for t in page["tickets"]]
    assert rows == [
        Item(source="zd", kind="support_ticket", external_id="35436",
             created_at=at("2009-07-20T22:55:29"), updated_at=at("2011-05-05T10:38:52"),
             title="Printer on fire", body="The fire is very colorful.",
             url="https://acme.zendesk.com/agent/tickets/35436", author="20978392",
             tags=("enterprise", "channel:web"), customer="Acme Corp",
             author_role="customer", thread_id="35436"),
        Item(source="zd", kind="support_ticket", external_id="35437",
             created_at=at("2011-05-01T00:00:00"), updated_at=at("2011-05-06T00:00:00"),
             title="(deleted ticket 35437)", body="",
             url="https://acme.zendesk.com/agent/tickets/35437", author="20978393",
             tags=("channel:email",), deleted=True, author_role="customer", thread_id="35437"),
    ]


def test_intercom_conversation_with_customer_parts():
    row = map_conversation(load("intercom_conversation.json"), source="ic",
                           app_url="https://app.intercom.com/a/inbox/abc", max_body_chars=LIMIT)
    assert row == Item(
        source="ic", kind="support_ticket", external_id="1911149811",
        created_at=datetime.fromtimestamp(1539897198, UTC),
        updated_at=datetime.fromtimestamp(1540393270, UTC),
        title="Export", body="<p>Exports are stuck</p>\n\n<p>The CSV one</p>",
        url="https://app.intercom.com/a/inbox/abc/conversation/1911149811",
        author="5bc8f7421ae2d96695c18a", tags=("export",), author_role="customer",
        thread_id="1911149811",
    )
    # the recorded parts carry no time: they cannot be placed in the thread, the record stays
    assert row.replies == ()


def test_discourse_topic_posts():
    topic = load("discourse_topic.json")
    rows = map_topic(topic, topic["post_stream"]["posts"], source="dc",
                     base_url="https://forum.example.com", changed_after=None,
                     max_body_chars=LIMIT, likes={101: 7})
    assert rows == [
        Item(source="dc", kind="community_post", external_id="101",
             created_at=at("2024-05-01T09:00:00"), updated_at=at("2024-05-02T09:00:00"),
             title="Export is slow", body="<p>Export takes minutes</p>",
             url="https://forum.example.com/t/export-is-slow/13/1", author="alice",
             tags=("export", "category:5"), votes=7, thread_id="topic:13",
             author_role="customer"),
        Item(source="dc", kind="community_post", external_id="102",
             created_at=at("2024-05-01T10:00:00"), updated_at=at("2024-05-03T00:00:00"),
             title="", body="<p>Same here</p>",
             url="https://forum.example.com/t/export-is-slow/13/2", author="bob",
             tags=("export", "category:5"), deleted=True, thread_id="topic:13",
             reply_to="topic:13/1", author_role="customer"),
        Item(source="dc", kind="community_post", external_id="104",
             created_at=at("2024-05-01T12:00:00"), updated_at=at("2024-05-01T12:00:00"),
             title="", body="<p>Hi! I am a bot</p>",
             url="https://forum.example.com/t/export-is-slow/13/4", author="discobot",
             tags=("export", "category:5"), is_bot=True, thread_id="topic:13",
             reply_to="topic:13/1", author_role="bot"),
    ]


def test_discourse_only_posts_changed_after_the_watermark():
    topic = load("discourse_topic.json")
    rows = map_topic(topic, topic["post_stream"]["posts"], source="dc", base_url="https://f",
                     changed_after="2024-05-02T12:00:00.000Z", max_body_chars=LIMIT)
    assert [r.external_id for r in rows] == ["102"]  # deleted after the watermark


def test_slack_messages():
    page = load("slack_history.json")
    kept = [m for m in page["messages"] if not is_skipped(m)]
    rows = [map_message(m, source="sl", channel="C1", workspace_url="https://acme.slack.com",
                        max_body_chars=LIMIT) for m in kept]
    assert rows == [
        Item(source="sl", kind="community_post", external_id="C1:1512085950.000216",
             created_at=datetime.fromtimestamp(1512085950.000216, UTC),
             updated_at=datetime.fromtimestamp(1512085950.000216, UTC),
             body="Export keeps timing out",
             url="https://acme.slack.com/archives/C1/p1512085950000216", author="U123", votes=4,
             thread_id="C1:1512085950.000216", author_role="customer"),
        Item(source="sl", kind="community_post", external_id="C1:1512085980.000100",
             created_at=datetime.fromtimestamp(1512085980.0001, UTC),
             updated_at=datetime.fromtimestamp(1512090000.0001, UTC), body="Typo fixed",
             url="https://acme.slack.com/archives/C1/p1512085980000100", author="U124",
             thread_id="C1:1512085980.000100", author_role="customer"),
        Item(source="sl", kind="community_post", external_id="C1:1512085990.000100",
             created_at=datetime.fromtimestamp(1512085990.0001, UTC),
             updated_at=datetime.fromtimestamp(1512085990.0001, UTC),
             body="This message was deleted.",
             url="https://acme.slack.com/archives/C1/p1512085990000100", author="USLACKBOT",
             deleted=True, thread_id="C1:1512085990.000100", author_role="customer"),
    ]
