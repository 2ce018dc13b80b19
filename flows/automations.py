"""The alerts Prefect guarantees: Automations on the nightly flow's runs.

Four Automations, evaluated by the Prefect server itself (so they fire when the run's own
process is dead, its config unreadable or the machine gone), each sending through one
notification block (``[alerts] notify_block``, e.g. a ``slack-webhook`` block):

* ``nightly-feedback: run failed``: a run ends Failed (TimedOut included);
* ``nightly-feedback: run crashed``: a run ends Crashed (killed, out of memory, infrastructure);
* ``nightly-feedback: run late``: a scheduled run did not start on time (no worker, serve down);
* ``nightly-feedback: running too long``: a run is still Running after
  ``[alerts] running_longer_than_minutes``.

They match every run of the flow ``nightly-feedback`` (any deployment, and direct runs on the
same server). ``ensure_automations`` is idempotent: it replaces Automations of the same names, so
``feedback-pipeline deploy`` can run it on every deploy and ``feedback-pipeline automations``
after a ``prefect deploy``. The hand-written hook (``flows/alerts.py``) stays an optional extra.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from feedback_pipeline.config import AlertsConfig
from feedback_pipeline.errors import ConfigError

FLOW_NAME = "nightly-feedback"

BODY = (
    "nightly-feedback run {{ flow_run.name }} is {{ flow_run.state.name }}"
    "{% if deployment %} (deployment {{ deployment.name }}){% endif %}: "
    "{{ flow_run.state.message or 'no message' }}\n"
    "Started {{ flow_run.start_time or flow_run.expected_start_time }}. "
    "{{ flow_run|ui_url }}"
)


def _reactive(*states: str) -> Any:  # noqa: ANN401 - prefect EventTrigger
    from prefect.events.schemas.automations import EventTrigger, Posture

    return EventTrigger(
        expect={f"prefect.flow-run.{s}" for s in states},
        match={"prefect.resource.id": "prefect.flow-run.*"},
        match_related={"prefect.resource.role": "flow", "prefect.resource.name": FLOW_NAME},
        posture=Posture.Reactive, threshold=1, within=timedelta(0))


def _running_longer_than(minutes: int) -> Any:  # noqa: ANN401 - prefect EventTrigger
    from prefect.events.schemas.automations import EventTrigger, Posture

    # Proactive: after a run's Running event, fire if no further state event of that same run
    # (Completed, Failed, Crashed, Cancelled, ...) arrives within the window.
    return EventTrigger(
        after={"prefect.flow-run.Running"}, expect={"prefect.flow-run.*"},
        for_each={"prefect.resource.id"},
        match={"prefect.resource.id": "prefect.flow-run.*"},
        match_related={"prefect.resource.role": "flow", "prefect.resource.name": FLOW_NAME},
        posture=Posture.Proactive, threshold=1, within=timedelta(minutes=minutes))


def automation_specs(config: AlertsConfig) -> dict[str, tuple[Any, str]]:
    """Automation name -> (trigger, subject)."""
    minutes = config.running_longer_than_minutes
    return {
        f"{FLOW_NAME}: run failed": (_reactive("Failed", "TimedOut"),
                                     "nightly-feedback run failed"),
        f"{FLOW_NAME}: run crashed": (_reactive("Crashed"), "nightly-feedback run crashed"),
        f"{FLOW_NAME}: run late": (_reactive("Late"), "nightly-feedback run is late"),
        f"{FLOW_NAME}: running too long": (_running_longer_than(minutes),
                                           f"nightly-feedback run still running after "
                                           f"{minutes} min"),
    }


def notification_block_id(block: str) -> Any:  # noqa: ANN401 - UUID
    """The id of the notification block ``block-type/name`` on the configured server.

    Raises:
        ConfigError: the name is not ``type/name``, or no such block exists.
    """
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound

    block_type, _, name = block.partition("/")
    if not (block_type and name):
        raise ConfigError(f"alerts.notify_block must be 'block-type/name' (e.g. "
                          f"'slack-webhook/feedback-alerts'), got {block!r}")
    try:
        with get_client(sync_client=True) as client:
            return client.read_block_document_by_name(name, block_type,
                                                      include_secrets=False).id
    except ObjectNotFound:
        raise ConfigError(f"no notification block {block!r} on the Prefect server: create it "
                          f"(prefect block create {block_type}, or see 'Running it in "
                          "production' in the README) or fix alerts.notify_block") from None


def ensure_automations(config: AlertsConfig) -> list[str]:
    """Create (or replace) the four Automations; returns their names. Nothing when
    ``notify_block`` is empty.

    Raises:
        ConfigError: the block does not exist.
    """
    if not config.notify_block:
        return []
    from prefect.client.orchestration import get_client
    from prefect.events.actions import SendNotification
    from prefect.events.schemas.automations import AutomationCore

    block_id = notification_block_id(config.notify_block)
    names = []
    with get_client(sync_client=True) as client:
        for name, (trigger, subject) in automation_specs(config).items():
            automation = AutomationCore(
                name=name, description=f"Alert on runs of {FLOW_NAME} (feedback-pipeline)",
                tags=["feedback-pipeline"], trigger=trigger,
                actions=[SendNotification(block_document_id=block_id, subject=subject,
                                          body=BODY)])
            for old in client.read_automations_by_name(name):
                client.delete_automation(old.id)
            client.create_automation(automation)
            names.append(name)
    return names


__all__ = ["BODY", "FLOW_NAME", "automation_specs", "ensure_automations",
           "notification_block_id"]
