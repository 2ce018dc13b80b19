"""The Slack sink with the real slack_sdk clients against the local Slack emulator."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

import pytest

from feedback_pipeline.deliver.slack import SlackDeliveryError, SlackDigestSink
from feedback_pipeline.errors import ConfigError, SinkError
from feedback_pipeline.warehouse.runs import Run

from .conftest import SLACK_TOKEN, seed_ranked

AS_OF = datetime(2026, 11, 20, 18, 0, tzinfo=UTC)


@pytest.fixture
def ranking(make_ranked_theme, warehouse):
    """Two ranked themes whose quoted items are new in the warehouse (the digest counts them)."""
    themes = [make_ranked_theme(theme_id=1, rank=1, title="CSV export times out"),
              make_ranked_theme(theme_id=2, rank=2, title="Dark mode for the dashboard")]
    seed_ranked(warehouse, themes)
    return themes


def _row(con, key="slack:digest:2026-11-20"):
    digest = con.execute("SELECT status, ts, reply_ts, attempts, error FROM slack_digests "
                         "WHERE digest_key = ?", [key]).fetchone()
    delivery = con.execute("SELECT status, external_ref, error FROM deliveries "
                           "WHERE delivery_key = ?", [key]).fetchone()
    return digest, delivery


def test_posts_digest_and_thread_reply(warehouse, slack_emulator, slack_settings, ranking):
    out = SlackDigestSink(slack_settings()).deliver(Run(warehouse, "r1", AS_OF), ranking)
    assert out["slack"] == "posted"
    main, reply = slack_emulator.channel_messages()
    assert main["ts"] == out["ts"] and reply["thread_ts"] == out["ts"] == reply["thread_ts"]
    assert main["blocks"][0]["type"] == "header" and "CSV export times out" in main["text"]
    assert "Export to CSV times out." in json.dumps(reply["blocks"])  # quotes only in the thread
    assert "Export to CSV times out." not in json.dumps(main["blocks"])
    (status, ts, reply_ts, attempts, error), delivery = _row(warehouse)
    assert (status, ts, reply_ts, attempts, error) == ("sent", out["ts"], reply["ts"], 1, None)
    assert delivery == ("sent", out["ts"], None)
    post = slack_emulator.ok_calls("chat.postMessage")[0]
    assert post.headers["Authorization"] == f"Bearer {SLACK_TOKEN}"  # the secret reaches Slack
    assert post.headers["Content-Type"].startswith("application/json")


def test_rerun_updates_instead_of_reposting(warehouse, slack_emulator, slack_settings, ranking,
                                            make_ranked_theme):
    sink = SlackDigestSink(slack_settings())
    first = sink.deliver(Run(warehouse, "r1", AS_OF), ranking)
    again = sink.deliver(Run(warehouse, "r2", AS_OF), ranking)
    assert again["slack"] == "unchanged"
    changed = [*ranking, make_ranked_theme(theme_id=3, rank=3, title="SSO with Okta")]
    third = SlackDigestSink(slack_settings()).deliver(
        Run(warehouse, "r3", AS_OF), changed)
    assert third["slack"] == "updated" and third["ts"] == first["ts"]
    assert third["reply_ts"] == first["reply_ts"]
    methods = [r.method for r in slack_emulator.requests]
    # the channel name is looked up once, then its stored ID is used
    assert methods == ["conversations.list", "chat.postMessage", "chat.postMessage",
                       "chat.update", "chat.update"]
    assert len(slack_emulator.channel_messages()) == 2
    assert "SSO with Okta" in slack_emulator.channel_messages()[0]["text"]
    assert _row(warehouse)[0][3] == 3  # attempts


def test_retry_after_429_posts_once(warehouse, slack_emulator, slack_settings, ranking):
    slack_emulator.rate_limit("chat.postMessage", times=2, retry_after=0)
    out = SlackDigestSink(slack_settings(max_retries=2)).deliver(
        Run(warehouse, "r1", AS_OF), ranking)
    assert out["slack"] == "posted"
    assert [r.status for r in slack_emulator.calls("chat.postMessage")] == [429, 429, 200, 200]
    assert len(slack_emulator.channel_messages()) == 2


def test_rate_limit_exhausted_keeps_digest_pending_then_next_run_delivers(
        warehouse, slack_emulator, slack_settings, ranking):
    slack_emulator.rate_limit("chat.postMessage", times=2, retry_after=0)
    with pytest.raises(SlackDeliveryError) as info:
        SlackDigestSink(slack_settings(max_retries=1)).deliver(
            Run(warehouse, "r1", AS_OF), ranking)
    assert info.value.code == "ratelimited" and "Retry-After" in str(info.value)
    assert "next run delivers it" in str(info.value)
    (status, ts, *_), delivery = _row(warehouse)
    assert (status, ts) == ("failed", None) and delivery[0] == "failed"
    assert json.loads(warehouse.execute("SELECT payload FROM deliveries").fetchone()[0])["blocks"]
    out = SlackDigestSink(slack_settings()).deliver(Run(warehouse, "r2", AS_OF), ranking)
    assert out["slack"] == "posted" and _row(warehouse)[0][0] == "sent"
    assert len(slack_emulator.channel_messages()) == 2


@pytest.mark.parametrize(("error", "expected"), [
    ("not_in_channel", "/invite @<your app>"),
    ("channel_not_found", "Check deliver.slack.channel"),
    ("invalid_auth", "set FP_SLACK_TOKEN to a valid bot token"),
    ("invalid_blocks", "rejected the digest blocks"),
    ("missing_scope", "chat:write"),
], ids=lambda v: v if isinstance(v, str) and " " not in v else "")
def test_each_error_is_a_clear_sink_error(warehouse, slack_emulator, slack_settings, ranking,
                                          error, expected):
    slack_emulator.fail("chat.postMessage", error,
                        **({"errors": ["must be less than 3001 characters "
                                       "[json-pointer:/blocks/2/text/text]"]}
                           if error == "invalid_blocks" else {}))
    with pytest.raises(SinkError) as info:
        SlackDigestSink(slack_settings()).deliver(Run(warehouse, "r1", AS_OF), ranking)
    message = str(info.value)
    assert info.value.code == error and expected in message
    assert "#community-feedback" in message or error in ("invalid_blocks", "missing_scope")
    if error == "invalid_blocks":
        assert "json-pointer:/blocks/2/text/text" in message
    (status, *_), (delivery_status, _, stored_error) = _row(warehouse)
    assert status == "failed" and delivery_status == "failed" and error in stored_error
    assert slack_emulator.channel_messages() == []


def test_real_channel_errors_from_the_emulator(warehouse, slack_emulator, slack_settings, ranking,
                                               monkeypatch):
    slack_emulator.add_channel("C0PRIVATE", "product", member=False)
    with pytest.raises(SlackDeliveryError, match=r"invite it: in #product|Invite it: in #product"):
        SlackDigestSink(slack_settings(channel="#product")).deliver(
            Run(warehouse, "r1", AS_OF), ranking)
    with pytest.raises(SlackDeliveryError, match="channel #nowhere was not found"):
        SlackDigestSink(slack_settings(channel="#nowhere")).deliver(
            Run(warehouse, "r2", AS_OF), ranking)
    monkeypatch.setenv("FP_SLACK_TOKEN", "xoxb-wrong")
    with pytest.raises(SlackDeliveryError) as info:
        SlackDigestSink(slack_settings()).deliver(Run(warehouse, "r3", AS_OF), ranking)
    assert info.value.code == "invalid_auth" and "FP_SLACK_TOKEN" in str(info.value)


def test_message_deleted_in_slack_is_posted_again(warehouse, slack_emulator, slack_settings,
                                                  ranking):
    sink = SlackDigestSink(slack_settings())
    first = sink.deliver(Run(warehouse, "r1", AS_OF), ranking)
    slack_emulator.channel_messages().clear()
    out = sink.deliver(Run(warehouse, "r2", AS_OF), ranking[:1])
    assert out["slack"] == "posted" and out["ts"] != first["ts"]
    assert len(slack_emulator.channel_messages()) == 2


def test_crash_after_post_is_found_by_metadata_not_reposted(warehouse, slack_emulator,
                                                            slack_settings, ranking):
    sink = SlackDigestSink(slack_settings())
    first = sink.deliver(Run(warehouse, "r1", AS_OF), ranking)
    # Simulate a crash between Slack's answer and storing the ts: the row is pending, no ts.
    warehouse.execute("UPDATE slack_digests SET status = 'pending', ts = NULL, reply_ts = NULL")
    out = sink.deliver(Run(warehouse, "r2", AS_OF), ranking)
    assert out["ts"] == first["ts"] and out["reply_ts"] == first["reply_ts"]
    assert len(slack_emulator.ok_calls("chat.postMessage")) == 2  # no third post
    assert len(slack_emulator.channel_messages()) == 2


def test_quiet_night_one_line_and_silent(warehouse, slack_emulator, slack_settings,
                                         make_ranked_theme):
    # Nothing new in the warehouse: the digest reads its counts there.
    ranking = [make_ranked_theme(theme_id=1, rank=1)]
    out = SlackDigestSink(slack_settings()).deliver(Run(warehouse, "r1", AS_OF), ranking)
    assert out["slack"] == "posted" and out["quiet"] and out["reply_ts"] is None
    (message,) = slack_emulator.channel_messages()
    assert "nothing new" in message["text"] and len(message["blocks"]) == 1
    later = datetime(2026, 11, 21, 18, 0, tzinfo=UTC)
    silent = SlackDigestSink(slack_settings(quiet_night="silent")).deliver(
        Run(warehouse, "r2", later), ranking)
    assert silent["slack"] == "silent"
    assert len(slack_emulator.channel_messages()) == 1
    assert _row(warehouse, "slack:digest:2026-11-21")[1][0] == "skipped"


def test_webhook_mode_posts_once(warehouse, slack_emulator, slack_settings, ranking):
    sink = SlackDigestSink(slack_settings(mode="webhook", channel=""))
    assert sink.deliver(Run(warehouse, "r1", AS_OF), ranking)["slack"] == "posted"
    (body,) = slack_emulator.webhook_messages
    assert body["blocks"][0]["type"] == "header"
    assert sink.deliver(Run(warehouse, "r2", AS_OF), ranking)["slack"] == "unchanged"
    assert sink.deliver(Run(warehouse, "r3", AS_OF), ranking[:1])["slack"] == "not_updatable"
    assert len(slack_emulator.webhook_messages) == 1
    assert _row(warehouse)[0][0] == "sent"


def test_webhook_429_is_retried_and_errors_are_clear(warehouse, slack_emulator, slack_settings,
                                                     ranking):
    slack_emulator.rate_limit("webhook", times=1, retry_after=0)
    sink = SlackDigestSink(slack_settings(mode="webhook"))
    assert sink.deliver(Run(warehouse, "r1", AS_OF), ranking)["slack"] == "posted"
    assert [r.status for r in slack_emulator.calls("webhook")] == [429, 200]
    slack_emulator.fail("webhook", "no_service", status=404)
    with pytest.raises(SlackDeliveryError, match="FP_SLACK_WEBHOOK_URL"):
        sink.deliver(Run(warehouse, "r2", datetime(2026, 11, 21, tzinfo=UTC)), ranking)


def test_missing_secret_or_channel_fails_at_start(monkeypatch, slack_settings):
    settings = slack_settings()
    monkeypatch.delenv("FP_SLACK_TOKEN")
    with pytest.raises(ConfigError, match="export FP_SLACK_TOKEN="):
        SlackDigestSink(settings)
    monkeypatch.setenv("FP_SLACK_TOKEN", SLACK_TOKEN)
    with pytest.raises(ConfigError, match="deliver.slack.channel is empty"):
        SlackDigestSink(slack_settings(channel=""))


def test_secrets_never_reach_the_logs(warehouse, slack_emulator, slack_settings, ranking, caplog):
    caplog.set_level(logging.DEBUG)
    SlackDigestSink(slack_settings()).deliver(Run(warehouse, "r1", AS_OF), ranking)
    SlackDigestSink(slack_settings(mode="webhook")).deliver(
        Run(warehouse, "r2", datetime(2026, 11, 21, tzinfo=UTC)), ranking)
    assert caplog.records  # the SDK did log at DEBUG
    assert SLACK_TOKEN not in caplog.text and "webhooksecret" not in caplog.text


def test_quotes_are_redacted_in_slack(warehouse, slack_emulator, slack_settings,
                                      make_ranked_theme):
    quotes = [{"source": "forum", "external_id": "1", "url": "https://forum.example.com/t/1",
               "text": "I am jane@example.com, call +1 415 555 0132, @jane_d on GitHub"}]
    theme = make_ranked_theme(quotes=json.dumps(quotes))
    seed_ranked(warehouse, [theme])
    SlackDigestSink(slack_settings()).deliver(Run(warehouse, "r1", AS_OF), [theme])
    sent = json.dumps(slack_emulator.channel_messages())
    assert "jane@example.com" not in sent and "555 0132" not in sent and "@jane_d" not in sent
    assert "[email]" in sent and "[phone]" in sent and "@[user]" in sent


def test_contract_channel_name_is_resolved_to_its_id_and_stored_before_any_post(
        warehouse, slack_emulator, slack_settings, ranking):
    slack_emulator.fail("chat.postMessage", "internal_error")
    with pytest.raises(SlackDeliveryError):
        SlackDigestSink(slack_settings()).deliver(Run(warehouse, "r1", AS_OF), ranking)
    stored = warehouse.execute("SELECT channel_id FROM slack_digests").fetchone()[0]
    assert stored == "C0FEEDBACK"
    methods = [r.method for r in slack_emulator.requests]
    assert methods.index("conversations.list") < methods.index("chat.postMessage")
    posted = slack_emulator.calls("chat.postMessage")[0]
    assert posted.params["channel"] == "C0FEEDBACK"


def test_contract_crash_during_first_post_recovers_by_channel_id_not_name(
        warehouse, slack_emulator, slack_settings, ranking):
    sink = SlackDigestSink(slack_settings())  # channel "#community-feedback", a name
    first = sink.deliver(Run(warehouse, "r1", AS_OF), ranking)
    # A crash while the first post of the date was in flight, as main left it: the intent
    # stored, not the ts, nor (before the fix) the channel ID.
    warehouse.execute("UPDATE slack_digests SET status = 'pending', ts = NULL, channel_id = NULL,"
                      " reply_ts = NULL, main_hash = NULL, reply_hash = NULL")
    out = SlackDigestSink(slack_settings()).deliver(Run(warehouse, "r2", AS_OF), ranking)
    assert out["ts"] == first["ts"]
    history = slack_emulator.calls("conversations.history")
    assert history and {c.params["channel"] for c in history} == {"C0FEEDBACK"}
    assert [c.error for c in history] == [None] * len(history)
    assert len(slack_emulator.ok_calls("chat.postMessage")) == 2  # main + reply, no duplicate
    assert len(slack_emulator.channel_messages()) == 2


def test_contract_channel_lookup_without_scope_says_to_set_the_id(
        warehouse, slack_emulator, slack_settings, ranking):
    slack_emulator.fail("conversations.list", "missing_scope", needed="channels:read")
    with pytest.raises(SlackDeliveryError, match="set deliver.slack.channel to the channel's ID"):
        SlackDigestSink(slack_settings()).deliver(Run(warehouse, "r1", AS_OF), ranking)
    assert slack_emulator.calls("chat.postMessage") == []
    out = SlackDigestSink(slack_settings(channel="C0FEEDBACK")).deliver(
        Run(warehouse, "r2", AS_OF), ranking)
    assert out["slack"] == "posted" and slack_emulator.calls("conversations.list")[-1].error
