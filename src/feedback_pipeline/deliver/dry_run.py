"""The outbox as files: what the Jira issues and the Slack digest say, readable before anything
is sent (``[deliver] outbox``). Written on every run, dry or live, and recorded in the outbox table
(status ``dry_run``) for what no live sink delivers."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import duckdb

from feedback_pipeline.deliver import outbox
from feedback_pipeline.deliver.config import DeliverConfig
from feedback_pipeline.deliver.jira.evidence import issue_evidence
from feedback_pipeline.deliver.jira.night import theme_key
from feedback_pipeline.deliver.jira.render import jira_issue_fields
from feedback_pipeline.deliver.slack.digest import digest_preview
from feedback_pipeline.deliver.slack.queries import announce_shipped, build_digest
from feedback_pipeline.rank.pulse import PulseConfig
from feedback_pipeline.warehouse.runs import Run


def _write_text(path: Path, text: str) -> None:
    """Owner-only (0600, folders 0700: the outbox quotes customers) and atomic: a crash never
    leaves half a file."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.chmod(tmp, 0o600)
    tmp.replace(path)


def _write(path: Path, payload: dict) -> None:
    _write_text(path, json.dumps(payload, indent=2, ensure_ascii=False, default=str))


_THEME_FILE = re.compile(r"theme-(\d+)\.(?:json|txt)")
RETIRED = "retired"


def retire_files(con: duckdb.DuckDBPyConnection, folder: Path) -> list[int]:
    """Remove the Jira files of themes no longer live (merged, rejected or faded) and
    mark their dry-run outbox rows ``retired``; returns those theme ids."""
    found: dict[int, list[Path]] = {}
    for path in (folder / "jira").glob("theme-*") if (folder / "jira").is_dir() else ():
        if m := _THEME_FILE.fullmatch(path.name):
            found.setdefault(int(m.group(1)), []).append(path)
    if not found:
        return []
    gone = sorted(r[0] for r in con.execute(
        "SELECT theme_id FROM themes WHERE list_contains(?, theme_id) "
        "AND status IN ('merged', 'rejected', 'faded')", [list(found)]).fetchall())
    for theme_id in gone:
        for path in found[theme_id]:
            path.unlink(missing_ok=True)
    if gone:
        con.execute("UPDATE deliveries SET status = ?, updated_at = now() WHERE sink = 'jira' "
                    "AND status = 'dry_run' AND list_contains(?, theme_id)", [RETIRED, gone])
    return gone


class OutboxFiles:
    """The dry-run sink.

    Args:
        config: the ``[deliver]`` settings (outbox folder, Jira and Slack rendering settings).
        jira: write the Jira issues too; off when the live Jira sink owns their outbox rows.
    """

    def __init__(self, config: DeliverConfig, *, jira: bool = True,
                 pulse: PulseConfig | None = None) -> None:
        self.config = config
        self.pulse = pulse
        self.jira_top_n = config.jira.top_n if jira else 0

    def deliver(self, run: Run, ranking: list[dict]) -> dict:
        con, folder = run.con, self.config.outbox
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        counts = {"created": 0, "updated": 0, "unchanged": 0}
        for theme in ranking[: self.jira_top_n]:
            evidence = issue_evidence(con, theme, self.config.jira, as_of=run.as_of)
            request = {"fields": jira_issue_fields(theme, self.config.jira, evidence)}
            counts[outbox.record(con, theme_key(theme["theme_id"]), sink="jira",
                                 theme_id=theme["theme_id"], run_id=run.run_id, payload=request,
                                 status="dry_run", skip_unchanged=True)] += 1
            _write(folder / "jira" / f"theme-{theme['theme_id']}.json", request)
            _write_text(folder / "jira" / f"theme-{theme['theme_id']}.txt",
                        f"{request['fields']['summary']}\n\n{request['fields']['description']}\n")
        digest = build_digest(con, ranking, as_of=run.digest_as_of, run_id=run.run_id,
                              config=self.config.slack, jira_server=self.config.jira.server,
                              pulse=self.pulse, pulse_as_of=run.as_of)
        key = digest["key"]
        counts[outbox.record(con, key, sink="slack", theme_id=None, run_id=run.run_id,
                             payload=digest, status="dry_run", skip_unchanged=True)] += 1
        announce_shipped(con, key, digest["shipped_theme_ids"])
        day = f"{run.digest_as_of:%Y-%m-%d}"
        _write(folder / "slack" / f"digest-{day}.json", digest)
        _write_text(folder / "slack" / f"digest-{day}.txt", digest_preview(digest))
        retired = retire_files(con, folder)
        return {"jira_issues": min(len(ranking), self.jira_top_n), "slack_digests": 1, **counts,
                "retired": len(retired), "outbox": str(folder)}


__all__ = ["RETIRED", "OutboxFiles", "retire_files"]
