"""Prefect events of the nightly flow, for Automations and the event feed.

``feedback-pipeline.source.failed``: one event per source that failed in a run that went on
(``payload``: the redacted error and our run id), related to the flow run and, when there is
one, its deployment, so an Automation can alert on a partly failed night as well as on a Failed
one.
"""

from __future__ import annotations

from prefect.events import emit_event
from prefect.runtime import deployment, flow_run

from feedback_pipeline.redact import redact

SOURCE_FAILED = "feedback-pipeline.source.failed"


def _related() -> list[dict[str, str]]:
    related = []
    if flow_run.id:
        related.append({"prefect.resource.id": f"prefect.flow-run.{flow_run.id}",
                        "prefect.resource.role": "flow-run",
                        "prefect.resource.name": str(flow_run.name)})
    if deployment.id:
        related.append({"prefect.resource.id": f"prefect.deployment.{deployment.id}",
                        "prefect.resource.role": "deployment",
                        "prefect.resource.name": str(deployment.name)})
    return related


def emit_source_failures(errors: dict[str, str], *, run_id: str) -> None:
    """One ``feedback-pipeline.source.failed`` event per failed source."""
    related = _related()
    for name, error in errors.items():
        emit_event(event=SOURCE_FAILED,
                   resource={"prefect.resource.id": f"feedback-pipeline.source.{name}",
                             "prefect.resource.name": name},
                   related=related, payload={"error": redact(str(error)), "run_id": run_id})


__all__ = ["SOURCE_FAILED", "emit_source_failures"]
