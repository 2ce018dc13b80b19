"""What the Slack sink leaves on record, and what Slack is asked, around a crash and a refusal:
the rows a crash leaves are pending (so the rerun looks for the message before posting, and the
outbox knows the digest is unsettled), posts never unfurl, and a webhook that does not answer
``ok`` is a failure with Slack's reason (cases surviving mutants showed untested, RELIABILITY.md).
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from feedback_pipeline.deliver.slack import SlackDeliveryError, SlackDigestSink
from feedback_pipeline.deliver.slack import sink as sink_module
from feedback_pipeline.warehouse.runs import Run

from .conftest import seed_ranked

AS_OF = datetime(2026, 11, 20, 18, 0, tzinfo=UTC)
KEY = "slack:digest:2026-11-20"


class Crash(BaseException):
    """The process dies here: nothing after this point runs (not even an except clause)."""


@pytest.fixture
def ranking(make_ranked_theme, warehouse):
    themes = [make_ranked_theme(theme_id=1, rank=1, title="CSV export times out"),
              make_ranked_theme(theme_id=2, rank=2, title="Dark mode for the dashboard")]
    seed_ranked(warehouse, themes)  # the digest reads its counts from the warehouse
    return themes


def crash_at(monkeypatch, point: str) -> None:
    def crashpoint(name: str) -> None:
        if name == point:
            raise Crash(name)

    monkeypatch.setattr(sink_module, "crashpoint", crashpoint)


def rows(con):
    digest = con.execute("SELECT status, ts, attempts, run_id FROM slack_digests "
                         "WHERE digest_key = ?", [KEY]).fetchone()
    delivery = con.execute("SELECT sink, status, run_id, external_ref FROM deliveries "
                           "WHERE delivery_key = ?", [KEY]).fetchone()
    return digest, delivery


@pytest.mark.parametrize("point", ["slack.intent", "slack.main.sent"])
def test_a_crash_leaves_the_digest_pending_and_the_rerun_posts_it_once(
        warehouse, slack_emulator, slack_settings, ranking, monkeypatch, point):
    crash_at(monkeypatch, point)
    with pytest.raises(Crash):
        SlackDigestSink(slack_settings()).deliver(Run(warehouse, "r1", AS_OF), ranking)
    posted = len(slack_emulator.channel_messages())
    assert posted == (1 if point == "slack.main.sent" else 0)
    # On record: an attempt of run r1 that nothing says ended, in both tables.
    assert rows(warehouse) == (("pending", None, 1, "r1"), ("slack", "pending", "r1", None))

    monkeypatch.setattr(sink_module, "crashpoint", lambda name: None)  # the rerun lives
    out = SlackDigestSink(slack_settings()).deliver(Run(warehouse, "r2", AS_OF), ranking)

    main = [m for m in slack_emulator.channel_messages() if m.get("thread_ts") in (None, m["ts"])]
    assert len(main) == 1 and main[0]["ts"] == out["ts"]  # found by its metadata, not reposted
    assert len(slack_emulator.channel_messages()) == 2  # and one thread reply
    assert rows(warehouse) == (("sent", out["ts"], 2, "r2"), ("slack", "sent", "r2", out["ts"]))


def test_bot_posts_never_unfurl_links_or_media(warehouse, slack_emulator, slack_settings,
                                               ranking):
    SlackDigestSink(slack_settings()).deliver(Run(warehouse, "r1", AS_OF), ranking)
    posts = slack_emulator.ok_calls("chat.postMessage")
    assert len(posts) == 2  # the digest and its thread reply
    for post in posts:
        assert post.params["unfurl_links"] is False and post.params["unfurl_media"] is False


def test_webhook_rate_limited_past_its_retries_is_a_rate_limited_failure(
        warehouse, slack_emulator, slack_settings, ranking):
    slack_emulator.rate_limit("webhook", times=3, retry_after=0)
    sink = SlackDigestSink(slack_settings(mode="webhook", max_retries=2))

    with pytest.raises(SlackDeliveryError) as caught:
        sink.deliver(Run(warehouse, "r1", AS_OF), ranking)

    assert [r.status for r in slack_emulator.calls("webhook")] == [429, 429, 429]
    assert (caught.value.code, caught.value.channel) == ("rate_limited", "(incoming webhook)")
    assert "rate-limited" in str(caught.value)
    assert warehouse.execute("SELECT status, error LIKE 'rate_limited: %' FROM deliveries "
                             "WHERE delivery_key = ?", [KEY]).fetchone() == ("failed", True)


@pytest.mark.parametrize("status, body, code", [
    (200, "<html>Sign in to continue</html>", "<html>Sign in to continue</html>"),
    (404, "channel_is_archived", "channel_is_archived"),
])
def test_a_webhook_answer_other_than_ok_is_a_failure_naming_the_webhook(
        warehouse, slack_emulator, slack_settings, ranking, status, body, code):
    slack_emulator.raw_reply("webhook", body, status=status)
    sink = SlackDigestSink(slack_settings(mode="webhook", max_retries=0))

    with pytest.raises(SlackDeliveryError) as caught:
        sink.deliver(Run(warehouse, "r1", AS_OF), ranking)

    assert (caught.value.code, caught.value.channel) == (code, "(incoming webhook)")
    assert "None" not in str(caught.value)
    assert slack_emulator.webhook_messages == []
    assert rows(warehouse)[1][1] == "failed"
