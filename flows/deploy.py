"""Deploy the nightly flow: a cron schedule, never two runs at once, alerts Prefect guarantees.

Three ways to the same deployment ``nightly-feedback/<name>`` (schedule, overlap policy and
timeouts from the config, parameters from the command line):

* ``feedback-pipeline deploy --config my.toml``: *serve*. This process registers the deployment
  and runs its flow runs itself, each in a subprocess; no work pool and no worker. Stopping it
  leaves the schedule active (``pause_on_shutdown=False``), so nights it misses show up as Late
  and alert instead of silently not being scheduled.
* ``... --work-pool NAME``: registers the deployment on an existing work pool and exits; a worker
  of that pool runs the flow runs from the installed package (module entrypoint
  ``feedback_pipeline_flows.nightly.nightly``: the worker's environment or image must have it, no path of this
  machine is stored except the config path given, which the worker resolves in its own working
  directory).
* ``prefect deploy`` with the project's ``prefect.yaml`` (code pulled from git, config shipped
  with it): deployment as code; then ``feedback-pipeline automations`` for the alerts.

The first two also create the Automations of ``flows/automations.py`` when ``[alerts]
notify_block`` is set. All need a Prefect server (``PREFECT_API_URL``); see "Running it in
production" in the README.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from feedback_pipeline.config import load_settings
from feedback_pipeline.errors import ConfigError, FeedbackPipelineError
from feedback_pipeline_flows.automations import ensure_automations

DEPLOYMENT_NAME = "nightly"
OVERLAP = ("enqueue", "cancel-new")
# The one place the flow's import path is written for deployments (prefect.yaml has its own).
ENTRYPOINT = "feedback_pipeline_flows.nightly.nightly"
# What every flow run needs from Prefect's settings wherever it starts (see prefect.toml).
RUN_ENV = {"PREFECT_LOGGING_EXTRA_LOGGERS": "feedback_pipeline"}


def deployment_options(config_path: str | Path | None = None, *, cron: str | None = None,
                       timezone: str | None = None, overlap: str | None = None,
                       dry_run: bool = True, full_recluster: bool = False,
                       portable: bool = False) -> dict[str, Any]:
    """What the deployment is made of, for ``Flow.serve`` and ``Flow.deploy`` alike.

    Args:
        config_path: the TOML config the runs use, stored absolute (serve: the runs are on this
            machine), or as given with ``portable`` (a work pool: a relative path is resolved by
            each run in its worker's working directory).
        cron, timezone, overlap: override ``[schedule]`` of the config.
        dry_run: runs write Jira/Slack requests to the outbox only (``False``: deliver).
        full_recluster: runs re-cluster everything instead of the incremental path.

    Returns:
        ``schedules``, ``concurrency_limit``, ``parameters``, ``description`` and ``tags``.

    Raises:
        ConfigError: the config is invalid, or the timezone or cron expression is unknown.
    """
    from prefect.client.schemas.objects import ConcurrencyLimitConfig, ConcurrencyLimitStrategy
    from prefect.schedules import Cron

    config = Path(config_path) if config_path else None
    settings = load_settings(config)
    if config and not portable:
        config = config.resolve()
    schedule = settings.schedule
    cron = cron or schedule.cron
    timezone = timezone or schedule.timezone
    overlap = overlap or schedule.overlap
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ConfigError(f"unknown timezone {timezone!r} in schedule.timezone (or --timezone): "
                          "use an IANA name such as 'UTC' or 'Europe/Berlin'") from exc
    if overlap not in OVERLAP:
        raise ConfigError(f"overlap must be one of {', '.join(OVERLAP)}, got {overlap!r}")
    try:
        cron_schedule = Cron(cron, timezone=timezone)
    except ValueError as exc:
        raise ConfigError(f"invalid cron expression {cron!r} in schedule.cron (or --cron): "
                          "five fields, e.g. '0 2 * * *' for 02:00 every day") from exc
    strategy = (ConcurrencyLimitStrategy.ENQUEUE if overlap == "enqueue"
                else ConcurrencyLimitStrategy.CANCEL_NEW)
    return {
        "schedules": [cron_schedule],
        "concurrency_limit": ConcurrencyLimitConfig(limit=1, collision_strategy=strategy),
        "parameters": {"config_path": str(config) if config else None, "dry_run": dry_run,
                       "full_recluster": full_recluster},
        "description": f"Nightly feedback themes ({'dry run' if dry_run else 'live delivery'}, "
                       f"{cron} {timezone}, overlapping runs: {overlap}).",
        "tags": ["feedback-pipeline"],
        "alerts": settings.alerts,
    }


def require_api() -> str:
    """The Prefect API URL deployments go to; without one a deployment would vanish with the
    temporary server Prefect starts for a single run.

    Raises:
        ConfigError: ``PREFECT_API_URL`` is set neither in the environment nor the profile.
    """
    from prefect.settings import PREFECT_API_URL

    url = PREFECT_API_URL.value()
    if not url:
        raise ConfigError("no Prefect server to deploy to: start one (`prefect server start`) and "
                          "run `prefect config set PREFECT_API_URL=http://127.0.0.1:4200/api` "
                          "(or export PREFECT_API_URL)")
    return str(url)


def serve(options: dict[str, Any], *, name: str = DEPLOYMENT_NAME) -> None:
    """Register the deployment and run its flow runs in this process until interrupted."""
    require_api()
    from prefect.types.entrypoint import EntrypointType

    from feedback_pipeline_flows.nightly import nightly

    options = dict(options)
    ensure_automations(options.pop("alerts"))
    # A module entrypoint ("feedback_pipeline_flows.nightly.nightly") loads from the installed project whatever
    # the working directory of this process. Under systemd a stopped serve must not pause the
    # schedule: the missed nights then turn Late and the Late Automation alerts.
    nightly.serve(name=name, global_limit=options.pop("concurrency_limit"),
                  entrypoint_type=EntrypointType.MODULE_PATH, pause_on_shutdown=False, **options)


def require_work_pool(work_pool: str) -> str:
    """The pool's type; a missing pool is one line saying how to create it.

    Raises:
        ConfigError: no work pool of that name on the server.
    """
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound

    try:
        with get_client(sync_client=True) as client:
            return client.read_work_pool(work_pool).type
    except ObjectNotFound:
        raise ConfigError(f"no work pool {work_pool!r} on the Prefect server: create it with "
                          f"`prefect work-pool create {work_pool} --type process` (or pass "
                          "the name of an existing one: `prefect work-pool ls`)") from None


def deploy_to_pool(options: dict[str, Any], work_pool: str, *,
                   name: str = DEPLOYMENT_NAME) -> UUID:
    """Register the deployment on a work pool; a worker of that pool runs it.

    The worker imports the flow from its own environment (module entrypoint), so that
    environment (a virtualenv with this package, or the project's image) is what runs the code;
    nothing of this machine's file system is stored but the config path as given.
    """
    require_api()
    require_work_pool(work_pool)
    from prefect.types.entrypoint import EntrypointType

    from feedback_pipeline_flows.nightly import nightly

    options = dict(options)
    ensure_automations(options.pop("alerts"))
    deployment = nightly.to_deployment(name=name, work_pool_name=work_pool,
                                       job_variables={"env": dict(RUN_ENV)},
                                       entrypoint_type=EntrypointType.MODULE_PATH, **options)
    return deployment.apply()


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--config", "-c", help="TOML config the runs use (default: the demo set-up)")
    p.add_argument("--name", default=DEPLOYMENT_NAME, help="deployment name (default: nightly)")
    p.add_argument("--cron", help="cron expression (default: schedule.cron, '0 2 * * *')")
    p.add_argument("--timezone", help="IANA timezone of the cron (default: schedule.timezone)")
    p.add_argument("--overlap", choices=OVERLAP,
                   help="a run starting while one runs waits or is cancelled (schedule.overlap)")
    p.add_argument("--live", action="store_true", help="deliver to Jira/Slack (default: dry run)")
    p.add_argument("--work-pool", help="register on this process work pool instead of serving")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        options = deployment_options(args.config, cron=args.cron, timezone=args.timezone,
                                     overlap=args.overlap, dry_run=not args.live,
                                     portable=bool(args.work_pool))
        if args.work_pool:
            deployment_id = deploy_to_pool(options, args.work_pool, name=args.name)
            print(f"deployment nightly-feedback/{args.name} ({deployment_id}) is on work pool "
                  f"{args.work_pool!r}; start a worker: prefect worker start --pool "
                  f"{args.work_pool}")
        else:
            serve(options, name=args.name)
    except FeedbackPipelineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


__all__ = ["DEPLOYMENT_NAME", "ENTRYPOINT", "RUN_ENV", "deploy_to_pool", "deployment_options",
           "main", "require_api", "require_work_pool", "serve"]

if __name__ == "__main__":
    sys.exit(main())
