"""What the deployment is made of (no server needed): schedule, overlap policy, parameters."""

from __future__ import annotations

import re

import pytest
from prefect.client.schemas.objects import ConcurrencyLimitStrategy

from feedback_pipeline.errors import ConfigError
from feedback_pipeline_flows.deploy import deployment_options, main, require_api


def test_defaults_are_two_oclock_utc_one_run_at_a_time():
    options = deployment_options()
    (schedule,) = options["schedules"]
    assert (schedule.cron, schedule.timezone) == ("0 2 * * *", "UTC")
    assert options["concurrency_limit"].limit == 1
    assert options["concurrency_limit"].collision_strategy == ConcurrencyLimitStrategy.ENQUEUE
    assert options["parameters"] == {"config_path": None, "dry_run": True,
                                     "full_recluster": False}


def test_config_schedule_and_overrides(write_config, tmp_path, monkeypatch):
    config = write_config('[schedule]\ncron = "30 3 * * 1-5"\ntimezone = "Europe/Berlin"\n'
                          'overlap = "cancel-new"\n')
    monkeypatch.chdir(tmp_path)
    options = deployment_options(config.name, dry_run=False)
    (schedule,) = options["schedules"]
    assert (schedule.cron, schedule.timezone) == ("30 3 * * 1-5", "Europe/Berlin")
    assert options["concurrency_limit"].collision_strategy == ConcurrencyLimitStrategy.CANCEL_NEW
    # Stored absolute: the runs do not start in this directory.
    assert options["parameters"]["config_path"] == str(config.resolve())
    assert options["parameters"]["dry_run"] is False
    assert "live delivery" in options["description"]

    (schedule,) = deployment_options(config, cron="0 1 * * *", timezone="America/New_York",
                                     overlap="enqueue")["schedules"]
    assert (schedule.cron, schedule.timezone) == ("0 1 * * *", "America/New_York")


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"timezone": "Mars/Olympus"}, "unknown timezone 'Mars/Olympus'.*IANA"),
    ({"cron": "every night"}, "invalid cron expression 'every night'"),
    ({"overlap": "queue"}, "overlap must be one of enqueue, cancel-new"),
], ids=["timezone", "cron", "overlap"])
def test_bad_schedule_settings_say_what_to_fix(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        deployment_options(**kwargs)


def test_deploying_without_a_server_says_how_to_start_one(monkeypatch, capsys):
    from prefect.settings import PREFECT_API_URL, temporary_settings

    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    with temporary_settings(restore_defaults={PREFECT_API_URL}):
        with pytest.raises(ConfigError, match="prefect server start"):
            require_api()
        assert main(["--timezone", "UTC"]) == 2
    assert "PREFECT_API_URL" in capsys.readouterr().err


def test_cli_deploy_has_help():
    from typer.testing import CliRunner

    from feedback_pipeline.cli import app

    result = CliRunner().invoke(app, ["deploy", "--help"])
    assert result.exit_code == 0
    out = re.sub(r"\x1b\[[0-9;]*m", "", result.output)
    assert "cron schedule" in out and "--work-pool" in out
