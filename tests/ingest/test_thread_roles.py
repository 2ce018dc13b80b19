"""Threads, replies and author roles as each connector maps them, through the vendor emulators
and the real clients (httpx, slack_sdk), down to the warehouse rows the pulse reads."""

from __future__ import annotations

import pytest
from emulators.discourse import DiscourseEmulator
from emulators.github import GitHubEmulator
from emulators.intercom import IntercomEmulator
from emulators.slack import SlackEmulator
from emulators.zendesk import ZendeskEmulator

from feedback_pipeline.ingest.discourse.config import DiscourseSourceConfig
from feedback_pipeline.ingest.discourse.fetch import DiscourseSource
from feedback_pipeline.ingest.github.config import GitHubSourceConfig
from feedback_pipeline.ingest.github.fetch import GitHubSource
from feedback_pipeline.ingest.intercom.config import IntercomSourceConfig
from feedback_pipeline.ingest.intercom.fetch import IntercomSource
from feedback_pipeline.ingest.slack.config import SlackSourceConfig
from feedback_pipeline.ingest.slack.fetch import SlackSource
from feedback_pipeline.ingest.zendesk.config import ZendeskSourceConfig
from feedback_pipeline.ingest.zendesk.fetch import ZendeskSource

from .cases import CHANNEL, FAST, REPO, slack_message
from .conftest import run


def threads(con, source: str) -> list[tuple]:
    return con.execute("SELECT external_id, thread_id, reply_to, author_role, author_is_bot "
                       "FROM items WHERE source = ? ORDER BY created_at, external_id",
                       [source]).fetchall()


def replies(con, source: str) -> list[tuple]:
    return con.execute("SELECT thread_id, reply_id, author_role FROM thread_replies "
                       "WHERE source = ? ORDER BY created_at, reply_id", [source]).fetchall()


def test_discourse_staff_flags_groups_and_bots(monkeypatch, warehouse):
    with DiscourseEmulator() as emu:
        monkeypatch.setenv("FP_DISCOURSE_API_KEY", emu.token)
        first = emu.add_topic(1, "Export is slow", "Export takes minutes", user="alice")
        staff = emu.reply(1, "Fixed in 2.3", user="sam", staff=True, user_id=2)
        group = emu.reply(1, "Our team looks at it", user="tess", group="support", user_id=3,
                          reply_to=1)
        bot = emu.reply(1, "Hi! I am a bot", user="discobot", user_id=-2)
        own = emu.reply(1, "Any news?", user="alice", reply_to=2)
        config = DiscourseSourceConfig(name="dc", base_url=emu.url, staff_groups=["support"],
                                       **FAST)
        assert run(warehouse, DiscourseSource(config))["dc"].error is None
    assert threads(warehouse, "dc") == [
        (str(first), "topic:1", None, "customer", False),
        (str(staff), "topic:1", "topic:1/1", "staff", False),
        (str(group), "topic:1", "topic:1/1", "staff", False),
        (str(bot), "topic:1", "topic:1/1", "bot", True),
        (str(own), "topic:1", "topic:1/2", "customer", False),
    ]


def test_github_author_association_and_issue_comments(monkeypatch, warehouse):
    with GitHubEmulator() as emu:
        monkeypatch.setenv("FP_GITHUB_TOKEN", emu.token)
        emu.add_issue(REPO, 1, "Export fails", "CSV", user="alice", association="NONE")
        emu.add_issue(REPO, 2, "Release notes", "2.3", association="MEMBER")
        emu.add_issue(REPO, 3, "Bump deps", "bot", user="dependabot[bot]", bot=True)
        emu.add_discussion(REPO, 4, "Roadmap", "Q3", association="OWNER")
        emu.add_discussion(REPO, 5, "Dark mode?", "please", association="CONTRIBUTOR")
        bot = emu.add_comment(REPO, 1, "Thanks for the report!", user="triage[bot]", bot=True)
        own = emu.add_comment(REPO, 1, "Any news?", user="alice", association="NONE")
        staff = emu.add_comment(REPO, 1, "Fixed in 2.3", user="sam", association="COLLABORATOR")
        config = GitHubSourceConfig(name="gh", base_url=emu.url, repos=[REPO],
                                    discussions=True, **FAST)
        assert run(warehouse, GitHubSource(config))["gh"].error is None
        # one comments request, for the one issue that has comments
        assert [r.path for r in emu.requests if r.path.endswith("/comments")] == [
            f"/repos/{REPO}/issues/1/comments"]
    roles = {r[0]: (r[1], r[3]) for r in threads(warehouse, "gh")}
    # issues are threads (their comments are read); discussions' comments are not
    assert roles == {f"{REPO}#1": (f"{REPO}#1", "customer"), f"{REPO}#2": (f"{REPO}#2", "staff"),
                     f"{REPO}#3": (f"{REPO}#3", "bot"), f"{REPO}/discussions/4": (None, "staff"),
                     f"{REPO}/discussions/5": (None, "customer")}
    assert replies(warehouse, "gh") == [(f"{REPO}#1", str(bot["id"]), "bot"),
                                        (f"{REPO}#1", str(own["id"]), "customer"),
                                        (f"{REPO}#1", str(staff["id"]), "staff")]


def test_github_comments_off_keeps_issues_without_thread_data(monkeypatch, warehouse):
    with GitHubEmulator() as emu:
        monkeypatch.setenv("FP_GITHUB_TOKEN", emu.token)
        emu.add_issue(REPO, 1, "Export fails", "CSV")
        emu.add_comment(REPO, 1, "Fixed", user="sam", association="OWNER")
        config = GitHubSourceConfig(name="gh", base_url=emu.url, repos=[REPO], max_comments=0,
                                    **FAST)
        assert run(warehouse, GitHubSource(config))["gh"].error is None
        assert not [r for r in emu.requests if r.path.endswith("/comments")]
    assert [r[1] for r in threads(warehouse, "gh")] == [None]
    assert replies(warehouse, "gh") == []


def test_slack_threads_and_configured_staff(monkeypatch, warehouse):
    with SlackEmulator() as emu:
        monkeypatch.setenv("FP_SLACK_TOKEN", emu.token)
        emu.add_channel(CHANNEL, "community")
        parent = "1714550400.000100"
        emu.messages[CHANNEL].extend([
            slack_message(parent, "CSV export fails", thread_ts=parent, reply_count=2,
                          latest_reply="1714550460.000100"),
            slack_message("1714550430.000100", "Looking into it", thread_ts=parent,
                          user="U0STAFF"),
            slack_message("1714550460.000100", "Thanks", thread_ts=parent),
            {"type": "message", "bot_id": "B1", "text": "beep", "ts": "1714550470.000100"},
        ])
        config = SlackSourceConfig(name="sl", base_url=emu.base_url, channels=[CHANNEL],
                                   staff_users=["U0STAFF"], **FAST)
        assert run(warehouse, SlackSource(config))["sl"].error is None
    thread = f"{CHANNEL}:{parent}"
    assert threads(warehouse, "sl") == [
        (thread, thread, None, "customer", False),
        (f"{CHANNEL}:1714550430.000100", thread, thread, "staff", False),
        (f"{CHANNEL}:1714550460.000100", thread, thread, "customer", False),
    ]  # the bot's message is never stored


def test_zendesk_agent_and_requester_comments(monkeypatch, warehouse):
    with ZendeskEmulator() as emu:
        monkeypatch.setenv("FP_ZENDESK_TOKEN", emu.token)
        emu.add_ticket(1, "Export fails", "The CSV export fails.", requester_id=11)
        emu.add_comment(1, "Internal note", public=False, author_id=7)
        emu.add_comment(1, "We are on it", author_id=7)
        emu.add_comment(1, "Still failing", author_id=11)
        config = ZendeskSourceConfig(name="zd", base_url=emu.url, email=emu.email, **FAST)
        assert run(warehouse, ZendeskSource(config))["zd"].error is None
    assert threads(warehouse, "zd") == [("1", "1", None, "customer", False)]
    # the description is the ticket; the private note is no answer
    assert replies(warehouse, "zd") == [("1", "1003", "staff"), ("1", "1004", "customer")]


def test_intercom_admin_bot_and_user_parts(monkeypatch, warehouse):
    with IntercomEmulator() as emu:
        monkeypatch.setenv("FP_INTERCOM_TOKEN", emu.token)
        emu.add_conversation("c1", "Export", "<p>Exports are stuck</p>")
        emu.add_part("c1", "Fin here", author_type="bot", author="fin")
        emu.add_part("c1", "Which export?", author_type="admin", author="814860")
        emu.add_part("c1", "internal", author_type="admin", author="814860", part_type="note")
        emu.add_part("c1", "The CSV one", author_type="user")
        config = IntercomSourceConfig(name="ic", base_url=emu.url, **FAST)
        assert run(warehouse, IntercomSource(config))["ic"].error is None
    assert threads(warehouse, "ic") == [("c1", "c1", None, "customer", False)]
    assert [r[2] for r in replies(warehouse, "ic")] == ["bot", "staff", "customer"]


@pytest.mark.parametrize("role", ["staff", "bot"])
def test_a_reply_role_the_record_schema_does_not_know_is_rejected_with_its_field(role):
    from feedback_pipeline.errors import RecordError
    from feedback_pipeline.records import item_from_mapping

    record = {"source": "s", "kind": "community_post", "external_id": "1", "body": "x",
              "created_at": "2024-05-01T00:00:00Z",
              "replies": [{"id": "r1", "role": role.upper() + "x",
                           "created_at": "2024-05-01T01:00:00Z"}]}
    with pytest.raises(RecordError, match=r"replies\[0\]\.role"):
        item_from_mapping(record, max_body_chars=100)
