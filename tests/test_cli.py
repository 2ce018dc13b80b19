"""The command line: help everywhere, clear errors, corrections through the CLI."""

from __future__ import annotations

import re

import pytest
from cluster.test_themes_lifecycle import Warehouse, _settings, _three_themes
from typer.testing import CliRunner

from feedback_pipeline.cli import app

runner = CliRunner()
COMMANDS = [[], ["run"], ["themes"], ["themes", "show"], ["themes", "merge"], ["themes", "split"],
            ["themes", "rename"], ["themes", "reject"], ["cluster"], ["status"], ["backfill"],
            ["rejected"], ["pulse"]]


def _plain(text: str) -> str:
    return re.sub(r"\x1b\[[0-9;]*m", "", text)


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "top")
def test_every_command_has_help(command):
    result = runner.invoke(app, [*command, "--help"])
    assert result.exit_code == 0
    out = _plain(result.output)
    assert "Usage" in out
    # A one-line description beyond the usage line.
    assert len([line for line in out.splitlines() if line.strip()]) > 3


def test_themes_without_a_warehouse_says_what_to_do(tmp_path):
    result = runner.invoke(app, ["themes", "--warehouse", str(tmp_path / "none.duckdb")])
    assert result.exit_code == 2
    assert "run `feedback-pipeline run` first" in _plain(result.output)


def test_corrections_through_the_cli(tmp_path):
    path = tmp_path / "wh.duckdb"
    wh = Warehouse(str(path))
    groups = _three_themes(wh)
    wh.night(_settings(), full=True)
    export, login, billing = (wh.theme_of(groups[n]).pop() for n in ("export", "login", "billing"))
    wh.con.close()
    w = ["--warehouse", str(path)]

    result = runner.invoke(app, ["themes", "rename", str(export), "Export to CSV", *w])
    assert result.exit_code == 0 and f"theme {export} renamed" in result.output
    result = runner.invoke(app, ["themes", "merge", str(login), str(export), "--by", "pm", *w])
    assert result.exit_code == 0 and f"merged into {export}" in result.output
    result = runner.invoke(app, ["themes", "reject", str(billing), *w])
    assert result.exit_code == 0
    result = runner.invoke(app, ["themes", "merge", str(export), str(billing), *w])
    assert result.exit_code == 2 and "rejected; merge into a live theme" in _plain(result.output)
    result = runner.invoke(app, ["themes", "reject", "999", *w])
    assert result.exit_code == 2 and "no theme 999" in _plain(result.output)

    shown = runner.invoke(app, ["themes", "show", str(export), *w])
    assert shown.exit_code == 0
    out = _plain(shown.output)
    assert "Export to CSV" in out and "renamed" in out and "merged_into" in out
