"""Failure alerts: the real slack_sdk WebClient against the local Slack emulator."""

from __future__ import annotations

import pytest

from feedback_pipeline.config import AlertsConfig
from feedback_pipeline.errors import ConfigError, SinkError
from feedback_pipeline_flows.alerts import MAX_ERROR_CHARS, alert_text, post_alert

from .conftest import ALERT_TOKEN


def _alerts(emu, **overrides) -> AlertsConfig:
    return AlertsConfig(**{"enabled": True, "channel": "#data-alerts", "base_url": emu.base_url,
                           "timeout_seconds": 5, **overrides})


def test_alert_text_redacts_and_links():
    text = alert_text("clever-otter", "SourceError: 401 for bob@example.com token=abcdef123456789",
                      stage="ingest", url="http://127.0.0.1:4200/runs/flow-run/42",
                      deployment="nightly")
    assert text.splitlines()[0] == (":rotating_light: nightly-feedback run *clever-otter* "
                                    "(deployment nightly) failed in stage *ingest*")
    assert "bob@example.com" not in text and "[email]" in text
    assert "abcdef123456789" not in text and "token=[secret]" in text
    assert text.endswith("<http://127.0.0.1:4200/runs/flow-run/42|Open the run in Prefect>")


def test_alert_text_escapes_slack_mentions():
    text = alert_text("run-1", "bad row: <!channel> & <@U123>")
    # (redact() already hides the user id.)
    assert text.splitlines()[1] == "> bad row: &lt;!channel&gt; &amp; &lt;@[user]&gt;"


def test_alert_text_cuts_long_errors_and_names_crashes():
    text = alert_text("run-1", "x " * 2_000, state="Crashed")
    assert "crashed" in text.splitlines()[0] and "stage" not in text
    quote = text.splitlines()[1]
    assert len(quote) == len("> ") + MAX_ERROR_CHARS and quote.endswith("…")


def test_post_alert_reaches_the_channel_with_the_token(slack_alerts):
    ts = post_alert(_alerts(slack_alerts), "run failed")
    (message,) = slack_alerts.channel_messages("C0ALERTS")
    assert message["ts"] == ts and message["text"] == "run failed"
    (call,) = slack_alerts.ok_calls("chat.postMessage")
    assert call.headers["Authorization"] == f"Bearer {ALERT_TOKEN}"


def test_post_alert_explains_what_slack_refused(slack_alerts):
    slack_alerts.fail("chat.postMessage", "not_in_channel")
    with pytest.raises(SinkError, match=r"#data-alerts \(not_in_channel\).*/invite"):
        post_alert(_alerts(slack_alerts), "run failed")


@pytest.mark.parametrize(("overrides", "match"), [
    ({"channel": ""}, "alerts.channel is empty"),
    ({"token_env": "FP_NO_SUCH_ALERT_TOKEN"}, "FP_NO_SUCH_ALERT_TOKEN"),
], ids=["no-channel", "no-token"])
def test_post_alert_config_errors(slack_alerts, monkeypatch, overrides, match):
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    with pytest.raises(ConfigError, match=match):
        post_alert(_alerts(slack_alerts, **overrides), "run failed")
    assert slack_alerts.calls("chat.postMessage") == []


def _failing_config(write_config, emu, *, enabled: bool):
    # An unknown model fails the embed stage at once (the hub is offline); the address in the
    # model name shows that the error is redacted before it leaves.
    return write_config(f"""
[embed]
model = "no-such-model-ops@example.com"

[alerts]
enabled = {str(enabled).lower()}
channel = "#data-alerts"
base_url = "{emu.base_url}"
timeout_seconds = 5
""", records=None)


@pytest.mark.slow
def test_failed_flow_run_posts_one_alert(prefect_harness, slack_alerts, write_config):
    from feedback_pipeline_flows.nightly import nightly

    config = _failing_config(write_config, slack_alerts, enabled=True)
    state = nightly(config_path=str(config), return_state=True)
    assert state.is_failed() and "cannot load embedding model" in state.message
    (message,) = slack_alerts.channel_messages("C0ALERTS")
    first = message["text"].splitlines()[0]
    assert first.startswith(":rotating_light: nightly-feedback run *")
    assert first.endswith("failed in stage *embed*")
    assert "ModelError" in message["text"] and "cannot load embedding model" in message["text"]
    assert "ops@example.com" not in message["text"] and "[email]" in message["text"]


@pytest.mark.slow
def test_disabled_alerts_post_nothing(prefect_harness, slack_alerts, write_config):
    from feedback_pipeline_flows.nightly import nightly

    config = _failing_config(write_config, slack_alerts, enabled=False)
    state = nightly(config_path=str(config), return_state=True)
    assert state.is_failed()
    assert slack_alerts.requests == []


@pytest.mark.slow
def test_broken_alert_does_not_mask_the_failure(prefect_harness, slack_alerts, write_config,
                                                caplog):
    from feedback_pipeline_flows.nightly import nightly

    slack_alerts.fail("chat.postMessage", "channel_not_found")
    config = _failing_config(write_config, slack_alerts, enabled=True)
    with caplog.at_level("ERROR"):
        state = nightly(config_path=str(config), return_state=True)
    assert state.is_failed() and "cannot load embedding model" in state.message
    assert len(slack_alerts.calls("chat.postMessage")) == 1
    assert slack_alerts.channel_messages("C0ALERTS") == []
    assert any("failure alert not sent" in r.getMessage() and "channel_not_found" in r.getMessage()
               for r in caplog.records)


@pytest.mark.slow
def test_crashed_run_alert_names_the_crash(prefect_harness, slack_alerts, write_config):
    # What the runner does when a run's process dies (OOM kill): it calls the on_crashed hooks
    # with the run, read back from the API, in its Crashed state.
    from prefect.client.orchestration import get_client
    from prefect.states import Crashed

    from feedback_pipeline_flows.alerts import on_flow_failure
    from feedback_pipeline_flows.nightly import nightly

    config = _failing_config(write_config, slack_alerts, enabled=True)
    with get_client(sync_client=True) as client:
        run = client.create_flow_run(nightly, parameters={"config_path": str(config)},
                                     state=Crashed(message="Flow run infrastructure exited with "
                                                   "non-zero status code -9."))
    assert nightly.on_crashed_hooks == [on_flow_failure]
    on_flow_failure(nightly, run, run.state)
    (message,) = slack_alerts.channel_messages("C0ALERTS")
    first, error = message["text"].splitlines()[:2]
    assert first == f":rotating_light: nightly-feedback run *{run.name}* crashed"
    assert error == "> Flow run infrastructure exited with non-zero status code -9."
