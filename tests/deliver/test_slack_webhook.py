"""The Slack digest through an incoming webhook: what is sent, what is returned, and a dead
endpoint (cases surviving mutants showed untested, see RELIABILITY.md)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from feedback_pipeline.deliver.slack import SlackDeliveryError, SlackDigestSink
from feedback_pipeline.warehouse.runs import Run

from .conftest import seed_ranked

AS_OF = datetime(2026, 11, 20, 18, 0, tzinfo=UTC)


@pytest.fixture
def ranking(make_ranked_theme, warehouse):
    themes = [make_ranked_theme(theme_id=1, rank=1), make_ranked_theme(theme_id=2, rank=2,
                                                                       title="Dark mode")]
    seed_ranked(warehouse, themes)
    return themes


def test_webhook_post_carries_text_and_no_unfurls_and_reports_no_ts(
        warehouse, slack_emulator, slack_settings, ranking):
    sink = SlackDigestSink(slack_settings(mode="webhook"))

    out = sink.deliver(Run(warehouse, "r1", AS_OF), ranking)
    again = sink.deliver(Run(warehouse, "r2", AS_OF), ranking[:1])

    (body,) = slack_emulator.webhook_messages
    assert body["text"].startswith("Customer feedback digest")
    assert body["unfurl_links"] is False and body["unfurl_media"] is False
    assert (out["slack"], out["ts"], out["reply_ts"]) == ("posted", None, None)
    assert (again["slack"], again["ts"], again["reply_ts"]) == ("not_updatable", None, None)


def test_unreachable_webhook_is_a_connection_error_saying_so(
        warehouse, slack_settings, ranking, monkeypatch):
    monkeypatch.setenv("FP_SLACK_WEBHOOK_URL", "http://127.0.0.1:9/services/T0/B0/gone")
    sink = SlackDigestSink(slack_settings(mode="webhook", timeout_seconds=5, max_retries=0))

    with pytest.raises(SlackDeliveryError) as caught:
        sink.deliver(Run(warehouse, "r1", AS_OF), ranking)

    assert (caught.value.code, caught.value.channel) == ("connection_error", "(incoming webhook)")
    assert "Slack could not be reached at the webhook URL (URLError)" in str(caught.value)
