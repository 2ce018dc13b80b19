"""The nightly refresh of a theme's living issue: what is ours is rewritten, what people did wins.

The evidence below the marker is rewritten in place and the summary and priority follow the
theme, unless a person changed them since we set them (so a summary that still held a report
count, as before the summary became stable, is rewritten once to the stable form); a comment is
added only on a significant change; Done and Won't Do are respected, with one comment when a
shipped theme comes back.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from feedback_pipeline.deliver.jira import store
from feedback_pipeline.deliver.jira.night import FAILED, JiraNight
from feedback_pipeline.deliver.jira.render import (
    ThemeEvidence,
    growth_comment,
    jira_summary,
    live_description,
    resurge_comment,
    split_description,
)
from feedback_pipeline.deliver.jira.triage import decide_priority
from feedback_pipeline.fingerprint import fingerprint


def _jira_time(value: str | None) -> datetime | None:
    if not value:
        return None
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%f%z")


class IssueRefresher:
    """Refreshes the issues of one night (``JiraSink`` step 5)."""

    def __init__(self, night: JiraNight) -> None:
        self.night = night
        self.settings = night.settings

    def refresh(self, theme: dict, row: store.IssueRow, evidence: ThemeEvidence) -> None:
        tid, key = theme["theme_id"], row.issue_key
        issue = self.night.try_call("read", self.night.client.issue, key, issue=key, theme_id=tid)
        if issue is FAILED:
            return
        fields = issue.raw["fields"]
        state = self.night.issue_state(fields)
        if state != "open":
            self._closed(theme, row, state, _jira_time(fields.get("resolutiondate")))
            return
        row.jira_state, row.resolved_at = "open", None
        if row.origin == "linked":  # a PM's issue: only our remote link (upserted) changes
            changed = [] if self.night.remote_link(theme, key) is not FAILED else None
        else:
            changed = self._update_fields(theme, row, issue, evidence)
        if changed is None:
            return
        self._maybe_comment(theme, row, evidence)
        self.night.stats["refreshed" if changed else "unchanged"] += 1
        self.night.save(row, event="refreshed" if changed else "unchanged",
                   detail=", ".join(changed) if changed else "")

    def _update_fields(self, theme: dict, row: store.IssueRow, issue: Any,
                       evidence: ThemeEvidence) -> list[str] | None:
        """Rewrite what is ours and unchanged by people; return the fields sent (None: failed)."""
        tid, key, current = theme["theme_id"], row.issue_key, issue.raw["fields"]
        above, section = split_description(current.get("description"))
        description = live_description(theme, evidence, above, self.settings)
        update: dict[str, Any] = {}
        if description != (current.get("description") or ""):
            update["description"] = description
        summary = jira_summary(theme)
        if current.get("summary") != row.last_summary:
            if row.last_summary is not None:
                store.log_event(self.night.con, run_id=self.night.run_id, theme_id=tid,
                                issue_key=key, event="kept_human_edit", detail="summary")
        elif summary != row.last_summary:
            update["summary"] = summary
        priority = decide_priority(theme, evidence.urgency, self.settings).value
        current_priority = (current.get("priority") or {}).get("name")
        if (self.settings.set_priority and priority and current_priority == row.last_priority
                and priority != row.last_priority and row.last_priority is not None):
            update["priority"] = {"name": priority}
        if not update:
            return []
        self.night.intent(tid, {"update": key, "fields": update})
        if self.night.try_call("update", issue.update, fields=update,
                               notify=self.settings.notify_on_refresh, issue=key,
                               theme_id=tid) is FAILED:
            return None
        self.night.sent(tid, key)
        if "summary" in update:
            row.last_summary = summary
        if "priority" in update:
            row.last_priority = priority
        row.evidence_hash = fingerprint(split_description(description)[1] or "")
        return sorted(update)

    def _maybe_comment(self, theme: dict, row: store.IssueRow, evidence: ThemeEvidence) -> None:
        rule = self.settings.significant_change
        before, sources = row.baseline_items or 0, set(row.baseline_sources or [])
        new_sources = sorted(set(evidence.sources) - sources) if rule.new_source else []
        grew = rule.volume_factor > 0 and theme["item_count"] >= rule.volume_factor * max(before, 1)
        if not (grew or new_sources):
            return
        body = growth_comment(theme, before=before, new_sources=new_sources)
        if self.night.try_call("comment", self.night.client.add_comment, row.issue_key, body,
                               issue=row.issue_key, theme_id=theme["theme_id"]) is FAILED:
            return
        row.baseline_items, row.baseline_sources = theme["item_count"], sorted(evidence.sources)
        self.night.stats["commented"] += 1
        store.log_event(self.night.con, run_id=self.night.run_id, theme_id=theme["theme_id"],
                        issue_key=row.issue_key, event="commented",
                        detail=f"{before} -> {theme['item_count']} reports; new sources: "
                        f"{', '.join(new_sources) or 'none'}")

    def _closed(self, theme: dict, row: store.IssueRow, state: str,
                resolved: datetime | None) -> None:
        tid, key = theme["theme_id"], row.issue_key
        if row.jira_state != state or row.resolved_at != resolved:
            row.jira_state, row.resolved_at = state, resolved
        self.night.stats["closed_skipped"] += 1
        may_comment = state == "done" or self.settings.comment_on_declined
        if not may_comment or resolved is None or row.resurge_comment_for == resolved:
            self.night.save(row, event=f"{state}_respected")
            return
        new_count = store.items_since(self.night.con, tid, resolved, self.night.as_of)
        if new_count < self.settings.resurge_min_items:
            self.night.save(row, event=f"{state}_respected", detail=f"{new_count} new reports")
            return
        quotes = store.newest_items(self.night.con, tid, resolved, self.night.as_of)
        body = resurge_comment(theme, resolved=resolved, new_count=new_count, quotes=quotes)
        self.night.intent(tid, {"comment": key, "body": body})
        if self.night.try_call("comment", self.night.client.add_comment, key, body, issue=key,
                               theme_id=tid) is FAILED:
            return
        self.night.sent(tid, key)
        row.resurge_comment_for = resolved
        self.night.stats["resurged"] += 1
        self.night.save(row, event="resurged", detail=f"{new_count} new reports since {resolved}")



__all__ = ["IssueRefresher"]
