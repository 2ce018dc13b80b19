"""Deploy the nightly flow: a cron schedule, never two runs at once, alerts on failure.

Two ways to the same deployment ``nightly-feedback/nightly`` (schedule and overlap policy from
``[schedule]``, parameters from the command line):

* ``python flows/deploy.py --config my.toml`` (or ``feedback-pipeline deploy``): *serve*. This
  process registers the deployment and runs its flow runs itself, each in a subprocess. No work
  pool and no worker; stopping it pauses the schedule.
* ``... --work-pool NAME``: registers the deployment on a ``process`` work pool and exits; a
  ``prefect worker start --pool NAME`` (on any machine with this checkout) runs the flow runs.

Both need a Prefect server (``PREFECT_API_URL``); see "From zero to a scheduled nightly run" in
the README.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")

from feedback_pipeline.config import load_settings  # noqa: E402
from feedback_pipeline.errors import ConfigError, FeedbackPipelineError  # noqa: E402
from feedback_pipeline.paths import CHECKOUT_ROOT  # noqa: E402

DEPLOYMENT_NAME = "nightly"
OVERLAP = ("enqueue", "cancel-new")


def deployment_options(config_path: str | Path | None = None, *, cron: str | None = None,
                       timezone: str | None = None, overlap: str | None = None,
                       dry_run: bool = True, full_recluster: bool = False) -> dict[str, Any]:
    """What the deployment is made of, for ``Flow.serve`` and ``Flow.deploy`` alike.

    Args:
        config_path: the TOML config the runs use (stored as an absolute path).
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

    config = Path(config_path).resolve() if config_path else None
    schedule = load_settings(config).schedule
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
    # A module entrypoint ("feedback_pipeline_flows.nightly.nightly") loads from the installed
    # project whatever the working directory of this process.
    nightly.serve(name=name, global_limit=options.pop("concurrency_limit"),
                  entrypoint_type=EntrypointType.MODULE_PATH, **options)


def deploy_to_pool(options: dict[str, Any], work_pool: str, *,
                   name: str = DEPLOYMENT_NAME) -> UUID:
    """Register the deployment on a ``process`` work pool; a worker of that pool runs it.

    The code is pulled from this checkout (its absolute path), so the worker must run on a machine
    where that path holds the project and its virtual environment.
    """
    require_api()
    from feedback_pipeline_flows.nightly import nightly

    if CHECKOUT_ROOT is None:
        raise ConfigError("--work-pool pulls the flow's code from a source checkout, and this "
                          "feedback-pipeline is installed from a wheel: run the deploy from a "
                          "checkout, or serve the deployment here (without --work-pool)")
    flow = nightly.from_source(source=str(CHECKOUT_ROOT), entrypoint="flows/nightly.py:nightly")
    return flow.deploy(name=name, work_pool_name=work_pool, print_next_steps=False, **options)


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
                                     overlap=args.overlap, dry_run=not args.live)
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


__all__ = ["DEPLOYMENT_NAME", "deploy_to_pool", "deployment_options", "main", "require_api",
           "serve"]

if __name__ == "__main__":
    sys.exit(main())
