"""A short Slack message when the nightly flow fails or crashes (``[alerts]`` in the config).

``on_flow_failure`` is the Prefect hook (``on_failure`` and ``on_crashed`` of ``flows/nightly.py``):
it names the flow run, the stage (task) that failed and the error, redacted, with a link to the
run in the Prefect UI when one is known. An alert that cannot be sent is logged and never raised:
the run's own failure is what Prefect must record. ``slack_sdk`` is imported only when an alert
is actually posted.
"""

from __future__ import annotations

from typing import Any

from feedback_pipeline.config import AlertsConfig, load_settings
from feedback_pipeline.errors import ConfigError, FeedbackPipelineError, SinkError
from feedback_pipeline.markup import bound
from feedback_pipeline.redact import redact

MAX_ERROR_CHARS = 500


def alert_text(flow_run_name: str, error: str, *, state: str = "Failed", stage: str | None = None,
               url: str | None = None, deployment: str | None = None) -> str:
    """The alert, in Slack mrkdwn: what failed, where, the redacted error, and a link.

    Args:
        flow_run_name: Prefect's name of the run ("clever-otter").
        error: the state message or exception text; redacted and cut to ``MAX_ERROR_CHARS``.
        state: "Failed" or "Crashed".
        stage: the failed task ("ingest", ...), when known.
        url: the run in the Prefect UI, when known.
        deployment: the deployment the run belongs to, when any.
    """
    error = redact(" ".join(bound(error or "no error message", MAX_ERROR_CHARS).split()))
    if len(error) > MAX_ERROR_CHARS:
        error = error[: MAX_ERROR_CHARS - 1] + "…"
    where = f" (deployment {deployment})" if deployment else ""
    lines = [f":rotating_light: nightly-feedback run *{flow_run_name}*{where} {state.lower()}"
             + (f" in stage *{stage}*" if stage else "")]
    # Slack's control characters: an error quoting "<!channel>" must not ping anyone.
    error = error.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    lines.append(f"> {error}")
    if url:
        lines.append(f"<{url}|Open the run in Prefect>")
    return "\n".join(lines)


def post_alert(config: AlertsConfig, text: str) -> str:
    """Post ``text`` to ``config.channel`` with the bot token; returns the message ``ts``.

    Raises:
        ConfigError: no channel, or the token is in neither the variable nor its Secret block.
        SinkError: Slack refused the message or could not be reached.
    """
    if not config.channel.strip():
        raise ConfigError("alerts.channel is empty: set it to the channel for failure alerts, "
                          "e.g. channel = \"#data-alerts\" (or set alerts.enabled = false)")
    from feedback_pipeline.secrets import resolve_secret

    token = resolve_secret(config.token_env, what="the Slack token for failure alerts",
                           block_setting="alerts.token_env")
    from slack_sdk import WebClient
    from slack_sdk.errors import SlackApiError, SlackClientError

    client = WebClient(token=token.get_secret_value(), base_url=config.base_url,
                       timeout=config.timeout_seconds)
    try:
        response = client.chat_postMessage(channel=config.channel, text=text, mrkdwn=True,
                                           unfurl_links=False, unfurl_media=False)
    except SlackApiError as exc:
        code = exc.response.get("error", "unknown") if exc.response is not None else "unknown"
        raise SinkError(f"Slack refused the failure alert to {config.channel} ({code}): check "
                        f"alerts.channel, that the app is in the channel (/invite @<your app>) "
                        f"and {config.token_env}") from exc
    except (SlackClientError, OSError) as exc:
        raise SinkError(f"the failure alert could not reach Slack at {config.base_url} "
                        f"({type(exc).__name__}: {redact(str(exc))})") from exc
    return str(response.get("ts", ""))


def _run_details(flow_run: Any) -> tuple[str | None, str | None]:
    """(failed task, deployment name) of this flow run, read from the Prefect API."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterId,
        TaskRunFilter,
        TaskRunFilterState,
        TaskRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType

    with get_client(sync_client=True) as client:
        failed = client.read_task_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run.id])),
            task_run_filter=TaskRunFilter(state=TaskRunFilterState(type=TaskRunFilterStateType(
                any_=[StateType.FAILED, StateType.CRASHED]))),
        )
        deployment = (client.read_deployment(flow_run.deployment_id).name
                      if flow_run.deployment_id else None)
    # Task runs are named "<task>-<n>" ("ingest-0").
    return (failed[0].name.rsplit("-", 1)[0] if failed else None), deployment


def on_flow_failure(flow: Any, flow_run: Any, state: Any) -> None:
    """Prefect ``on_failure``/``on_crashed`` hook: post the alert when ``[alerts]`` is enabled.

    Never raises: a broken alert (bad config, Slack down) is logged to the run's logs, and the run
    stays Failed (or Crashed) with its own error.
    """
    from prefect.logging.loggers import flow_run_logger

    # The run's logger reaches the Prefect UI, also from the runner process for on_crashed.
    run_log = flow_run_logger(flow_run, flow)
    try:
        params = flow_run.parameters or {}
        settings = load_settings(params.get("config_path"), warehouse=params.get("warehouse"))
        if not settings.alerts.enabled:
            return
        stage = deployment = None
        try:
            stage, deployment = _run_details(flow_run)
        except Exception as exc:  # the API may be the very thing that failed: alert anyway
            run_log.warning("failure alert: could not read the failed task (%s: %s)",
                            type(exc).__name__, redact(str(exc)))
        from prefect.utilities.urls import url_for

        text = alert_text(flow_run.name, state.message or state.name, state=state.name,
                          stage=stage, url=url_for("flow-run", obj_id=flow_run.id),
                          deployment=deployment)
        ts = post_alert(settings.alerts, text)
        run_log.info("failure alert posted to %s (ts %s)", settings.alerts.channel, ts)
    except FeedbackPipelineError as exc:
        run_log.error("failure alert not sent: %s", redact(str(exc)))
    except Exception as exc:  # never mask the run's own failure with the alert's
        run_log.error("failure alert not sent: unexpected %s: %s", type(exc).__name__,
                      redact(str(exc)), exc_info=True)


__all__ = ["MAX_ERROR_CHARS", "alert_text", "on_flow_failure", "post_alert"]
