"""The outbox as files: what the Jira issues and the Slack digest say, readable before anything
is sent (``[deliver] outbox``). Written on every run, dry or live, and recorded in the outbox table
(status ``dry_run``) for what no live sink delivers."""

from __future__ import annotations

import json
from pathlib import Path

from feedback_pipeline.deliver import outbox
from feedback_pipeline.deliver.config import DeliverConfig
from feedback_pipeline.deliver.jira.night import theme_key
from feedback_pipeline.deliver.jira.render import jira_issue_fields
from feedback_pipeline.deliver.slack.digest import digest_preview
from feedback_pipeline.deliver.slack.queries import announce_shipped, build_digest
from feedback_pipeline.warehouse.runs import Run


def _write(path: Path, payload: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(payload, indent=2, ensure_ascii=False, default=str), encoding="utf-8")
    tmp.replace(path)  # atomic: a crash never leaves half a file


class OutboxFiles:
    """The dry-run sink.

    Args:
        config: the ``[deliver]`` settings (outbox folder, Jira and Slack rendering settings).
        jira: write the Jira issues too; off when the live Jira sink owns their outbox rows.
    """

    def __init__(self, config: DeliverConfig, *, jira: bool = True) -> None:
        self.config = config
        self.jira_top_n = config.jira.top_n if jira else 0

    def deliver(self, run: Run, ranking: list[dict], totals: dict) -> dict:
        con, folder = run.con, self.config.outbox
        counts = {"created": 0, "updated": 0, "unchanged": 0}
        for theme in ranking[: self.jira_top_n]:
            request = {"fields": jira_issue_fields(theme, self.config.jira)}
            counts[outbox.record(con, theme_key(theme["theme_id"]), sink="jira",
                                 theme_id=theme["theme_id"], run_id=run.run_id, payload=request,
                                 status="dry_run", skip_unchanged=True)] += 1
            _write(folder / "jira" / f"theme-{theme['theme_id']}.json", request)
            (folder / "jira" / f"theme-{theme['theme_id']}.txt").write_text(
                f"{request['fields']['summary']}\n\n{request['fields']['description']}\n",
                encoding="utf-8")
        digest = build_digest(con, ranking, as_of=run.digest_as_of, run_id=run.run_id,
                              totals=totals, config=self.config.slack,
                              jira_server=self.config.jira.server)
        key = digest["key"]
        counts[outbox.record(con, key, sink="slack", theme_id=None, run_id=run.run_id,
                             payload=digest, status="dry_run", skip_unchanged=True)] += 1
        announce_shipped(con, key, digest["shipped_theme_ids"])
        day = f"{run.digest_as_of:%Y-%m-%d}"
        _write(folder / "slack" / f"digest-{day}.json", digest)
        (folder / "slack" / f"digest-{day}.txt").write_text(digest_preview(digest),
                                                           encoding="utf-8")
        return {"jira_issues": min(len(ranking), self.jira_top_n), "slack_digests": 1, **counts,
                "outbox": str(folder)}


__all__ = ["OutboxFiles"]
