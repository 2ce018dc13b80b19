"""One living Jira issue per theme: created once, refreshed nightly, never a duplicate.

Each night, for the ranked themes:

1. every qualifying theme without an issue gets a 'pending' outbox row first;
2. themes without a recorded issue (new, or whose last create may have reached Jira) are looked
   up by their stable label ``feedback-theme-<id>`` with one JQL search, and adopted if found;
3. the rest are matched against the project's open and recently closed issues (same embedding
   model); a close match is linked (label, remote link, one evidence comment), not duplicated;
4. the rest are created (no automatic retry: a timeout leaves the row pending for step 2);
5. every theme with an issue is refreshed: the evidence below the marker is rewritten in place,
   a comment is added only on a significant change, Done and Won't Do are respected, and fields
   a person changed since we set them are left alone.

Theme lineage (``lineage.py``) is followed around these steps: a merged theme's issue moves to
the theme it merged into before step 1 (when that one has none); links between merged or split
themes' issues and the one comment per merge, split, fade or revival come after step 4.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np

from feedback_pipeline.crashpoints import crashpoint
from feedback_pipeline.deliver import outbox
from feedback_pipeline.deliver.jira import store
from feedback_pipeline.deliver.jira.client import build_client, create_issue
from feedback_pipeline.deliver.jira.config import JiraConfig
from feedback_pipeline.deliver.jira.lineage import LineageFollower
from feedback_pipeline.deliver.jira.night import JiraAbort, JiraNight, JiraRequestFailed
from feedback_pipeline.deliver.jira.render import (
    growth_comment,
    jira_issue_fields,
    jira_summary,
    link_comment,
    live_description,
    resurge_comment,
    split_description,
    theme_label,
)
from feedback_pipeline.embed.embedder import Embedder
from feedback_pipeline.errors import SinkError
from feedback_pipeline.fingerprint import fingerprint
from feedback_pipeline.warehouse.runs import Run

if TYPE_CHECKING:
    from jira import JIRA

    from feedback_pipeline.deliver.jira.render import ThemeEvidence

OUR_LABEL_PREFIX = "feedback-theme-"
GLOBAL_ID = "feedback-pipeline:theme:{theme_id}"


_FAILED = object()  # a call that failed and was recorded (update() itself returns None)


def _jira_time(value: str | None) -> datetime | None:
    if not value:
        return None
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%f%z")


class JiraSink:
    """Deliver ranked themes to Jira (see the module docstring for the nightly steps).

    Args:
        settings: the ``[deliver.jira]`` settings.
        client: an existing ``jira.JIRA``; built from ``settings`` on the first delivery
            otherwise.
        embedder: the pipeline's model, to match new themes against the backlog.
    """

    def __init__(self, settings: JiraConfig, client: JIRA | None = None, *,
                 embedder: Embedder | None = None) -> None:
        self.settings = settings
        self.client = client
        self.embedder = embedder

    def qualifies(self, theme: dict) -> bool:
        s = self.settings
        return (theme["rank"] <= s.top_n and theme["score"] >= s.min_score
                and theme["distinct_authors"] >= s.min_authors)

    def deliver(self, run: Run, ranking: list[dict], totals: dict | None = None) -> dict:
        """Create, link or refresh the Jira issues of ``ranking``; return counts.

        Raises:
            SinkError: Jira refused or failed a request. Everything not delivered stays in
                ``deliveries`` (status pending/failed) and the next run delivers it.
        """
        con, as_of = run.con, run.as_of
        self.night = JiraNight(self.settings, con, run.run_id, as_of, client=self.client,
                               stats=dict.fromkeys(
                                   ["created", "adopted", "linked", "refreshed", "unchanged",
                                    "commented", "resurged", "closed_skipped", "failed"], 0))
        self.stats, self.errors = self.night.stats, self.night.errors
        self._fresh: set[int] = set()  # created or linked tonight: nothing to refresh
        issues = store.load_issues(con)
        lineage = LineageFollower(self.night)
        lineage.plan(issues, self._unsettled() - set(issues))
        evidence = {t["theme_id"]: store.theme_evidence(con, t["theme_id"], as_of=as_of)
                    for t in ranking if t["theme_id"] in issues or self.qualifies(t)}
        new = [t for t in ranking if self.qualifies(t) and t["theme_id"] not in issues]
        for theme in new:
            fields = jira_issue_fields(theme, self.settings, evidence[theme["theme_id"]])
            self.night.intent(theme["theme_id"], {"create": {"fields": fields}})
        try:
            if self.client is None:
                self.client = build_client(self.settings)
            self.night.client = self.client
            unsettled = {t["theme_id"] for t in new} | (self._unsettled() - set(issues))
            # An adopted issue was created with tonight's evidence (or the warehouse is lost):
            # that is its baseline, so adopting it never looks like growth from 0 reports.
            self._adopt_by_label(issues, unsettled, baselines={
                t["theme_id"]: (t["item_count"], sorted(evidence[t["theme_id"]].sources))
                for t in ranking if t["theme_id"] in evidence})
            new = [t for t in new if t["theme_id"] not in issues]
            if new and self.settings.backlog_match:
                new = self._match_backlog(new, issues, self.embedder)
            for theme in new:
                self._create(theme, evidence[theme["theme_id"]], issues)
            lineage.follow(issues)
            for theme in ranking:  # a merged theme's issue may have moved to one of these
                if theme["theme_id"] in issues and theme["theme_id"] not in evidence:
                    evidence[theme["theme_id"]] = store.theme_evidence(
                        con, theme["theme_id"], as_of=as_of)
            for theme in ranking:
                row = issues.get(theme["theme_id"])
                if row is not None and theme["theme_id"] not in self._fresh:
                    self._refresh(theme, row, evidence[theme["theme_id"]])
        except SinkError as exc:  # JiraAbort included: nothing more can be sent tonight
            outbox.note_error(con, "jira", str(exc))
            raise
        self.stats["issues"] = len(store.load_issues(con))
        if self.errors:
            raise SinkError(f"{len(self.errors)} Jira request(s) failed (kept in the outbox for "
                            "the next run): " + "; ".join(self.errors))
        return self.stats

    def _call(self, operation: str, fn: Any, *args: Any, issue: str | None = None,
              theme_id: int | None = None, **kwargs: Any) -> Any:
        """Run one Jira call; a failed request of a theme is recorded, anything else aborts."""
        try:
            return self.night.call(operation, fn, *args, issue=issue, **kwargs)
        except JiraRequestFailed as exc:
            if theme_id is None:
                raise JiraAbort(str(exc)) from exc
            self.night.failed(theme_id, f"timeout during {operation}; the next run looks the "
                              "issue up by its label before creating" if exc.timeout else str(exc))
            return _FAILED

    def _unsettled(self) -> set[int]:
        return outbox.unsettled_themes(self.night.con, "jira", "jira:theme:")

    def _search(self, jql: str, fields: list[str]) -> list:
        return self._call("search", self.client.search_issues, jql, maxResults=False,
                          fields=fields)

    def _adopt_by_label(self, issues: dict[int, store.IssueRow], theme_ids: set[int], *,
                        baselines: dict[int, tuple[int, list[str]]]) -> None:
        wanted = sorted(theme_ids - set(issues))
        for start in range(0, len(wanted), 50):
            labels = ", ".join(theme_label(t) for t in wanted[start:start + 50])
            found = self._search(f'project = "{self.settings.project}" AND labels in ({labels}) '
                                 "ORDER BY created ASC", ["summary", "labels", "priority"])
            for issue in found:
                for label in issue.raw["fields"].get("labels") or []:
                    theme_id = int(label[len(OUR_LABEL_PREFIX):]) if label.startswith(
                        OUR_LABEL_PREFIX) and label[len(OUR_LABEL_PREFIX):].isdigit() else None
                    if theme_id in theme_ids and theme_id not in issues:
                        f = issue.raw["fields"]
                        items, sources = baselines.get(theme_id, (0, None))
                        row = store.IssueRow(
                            theme_id=theme_id, issue_key=issue.key, origin="adopted",
                            last_summary=f.get("summary"),
                            last_priority=(f.get("priority") or {}).get("name"),
                            baseline_items=items, baseline_sources=sources)
                        self._save(row, event="adopted", detail="found by label "
                                   f"{label} (a previous create reached Jira)")
                        self.night.sent(theme_id, issue.key)
                        issues[theme_id] = row
                        self.stats["adopted"] += 1

    def _match_backlog(self, new: list[dict], issues: dict[int, store.IssueRow],
                       embedder: Embedder) -> list[dict]:
        s, n = self.settings, self.night
        backlog = [i for i in self._search(
            f'project = "{s.project}" AND (statusCategory != Done OR resolved >= '
            f'-{s.backlog_closed_days}d) ORDER BY updated DESC',
            ["summary", "description", "labels", "status", "resolution"])[: s.backlog_max_issues]
            if not any(lb.startswith(OUR_LABEL_PREFIX) for lb in i.raw["fields"].get("labels")
                       or [])]
        if not backlog:
            for theme in new:
                store.record_match(n.con, run_id=n.run_id, theme_id=theme["theme_id"],
                                   issue_key=None, similarity=None, threshold=s.backlog_similarity,
                                   decision="created")
            return new
        texts = [f"{i.raw['fields'].get('summary') or ''}. "
                 f"{(i.raw['fields'].get('description') or '')[:2000]}" for i in backlog]
        issue_vecs = embedder.embed(texts)
        theme_vecs = embedder.embed([store.theme_text(t) for t in new])
        sims = np.asarray(theme_vecs, dtype=np.float32) @ np.asarray(issue_vecs,
                                                                     dtype=np.float32).T
        remaining = []
        for theme, row_sims in zip(new, sims, strict=True):
            best = int(np.argmax(row_sims))
            sim = float(row_sims[best])
            target = backlog[best]
            linked = sim >= s.backlog_similarity and self._link(theme, target, sim, issues)
            store.record_match(n.con, run_id=n.run_id, theme_id=theme["theme_id"],
                               issue_key=target.key, similarity=round(sim, 4),
                               threshold=s.backlog_similarity,
                               decision="linked" if linked else "created")
            if not linked:
                remaining.append(theme)
        return remaining

    def _evidence_url(self, theme_id: int) -> str:
        if self.settings.evidence_url_template:
            return self.settings.evidence_url_template.format(theme_id=theme_id)
        return (f"{self.settings.server.rstrip('/')}/issues/?jql=labels%20%3D%20"
                f"{theme_label(theme_id)}")

    def _remote_link(self, theme: dict, key: str) -> Any:
        tid = theme["theme_id"]
        title = (f"Customer feedback theme {tid}: {theme['item_count']} reports, "
                 f"{theme['distinct_authors']} customers")
        return self._call("link", self.client.add_remote_link, key,
                          {"url": self._evidence_url(tid), "title": title[:255]},
                          globalId=GLOBAL_ID.format(theme_id=tid), relationship="customer feedback",
                          issue=key, theme_id=tid)

    def _link(self, theme: dict, target: Any, sim: float,
              issues: dict[int, store.IssueRow]) -> bool:
        tid, key = theme["theme_id"], target.key
        comment = link_comment(theme, similarity=sim, evidence_url=self._evidence_url(tid))
        self.night.intent(tid, {"link": key, "similarity": sim, "comment": comment})
        # The label makes the link findable again if the warehouse is lost.
        if self._call("update", target.update, update={"labels": [{"add": theme_label(tid)}]},
                      notify=self.settings.notify_on_refresh, issue=key, theme_id=tid) is _FAILED:
            return False
        if self._remote_link(theme, key) is _FAILED:
            return False
        if self._call("comment", self.client.add_comment, key, comment, issue=key,
                      theme_id=tid) is _FAILED:
            return False
        row = store.IssueRow(theme_id=tid, issue_key=key, origin="linked",
                             baseline_items=theme["item_count"],
                             baseline_sources=self._sources(tid))
        self._save(row, event="linked", detail=f"similarity {sim:.3f}")
        self.night.sent(tid, key)
        issues[tid] = row
        self._fresh.add(tid)
        self.stats["linked"] += 1
        return True

    def _create(self, theme: dict, evidence: ThemeEvidence,
                issues: dict[int, store.IssueRow]) -> None:
        tid = theme["theme_id"]
        fields = jira_issue_fields(theme, self.settings, evidence)
        self.night.intent(tid, {"create": {"fields": fields}})
        crashpoint("jira.create.intent")
        issue = self._call("create", create_issue, self.client, fields,
                           max_retries=self.settings.max_retries, theme_id=tid)
        if issue is _FAILED:
            return
        crashpoint("jira.create.sent")
        _, section = split_description(fields["description"])
        row = store.IssueRow(
            theme_id=tid, issue_key=issue.key, origin="created", last_summary=fields["summary"],
            last_priority=(fields.get("priority") or {}).get("name"),
            evidence_hash=fingerprint(section or ""), baseline_items=theme["item_count"],
            baseline_sources=sorted(evidence.sources))
        self._save(row, event="created")
        self.night.sent(tid, issue.key)
        issues[tid] = row
        self._fresh.add(tid)
        self.stats["created"] += 1

    def _save(self, row: store.IssueRow, *, event: str, detail: str = "") -> None:
        n = self.night
        row.updated_run = n.run_id
        store.save_issue(n.con, row, project=self.settings.project, run_id=n.run_id)
        store.log_event(n.con, run_id=n.run_id, theme_id=row.theme_id,
                        issue_key=row.issue_key, event=event, detail=detail)

    def _sources(self, theme_id: int) -> list[str]:
        n = self.night
        return sorted(store.theme_evidence(n.con, theme_id, as_of=n.as_of).sources)

    def _refresh(self, theme: dict, row: store.IssueRow, evidence: ThemeEvidence) -> None:
        tid, key = theme["theme_id"], row.issue_key
        issue = self._call("read", self.client.issue, key, issue=key, theme_id=tid)
        if issue is _FAILED:
            return
        fields = issue.raw["fields"]
        state = self.night.issue_state(fields)
        if state != "open":
            self._closed(theme, row, state, _jira_time(fields.get("resolutiondate")))
            return
        row.jira_state, row.resolved_at = "open", None
        if row.origin == "linked":  # a PM's issue: only our remote link (upserted) changes
            changed = [] if self._remote_link(theme, key) is not _FAILED else None
        else:
            changed = self._update_fields(theme, row, issue, evidence)
        if changed is None:
            return
        self._maybe_comment(theme, row, evidence)
        self.stats["refreshed" if changed else "unchanged"] += 1
        self._save(row, event="refreshed" if changed else "unchanged",
                   detail=", ".join(changed) if changed else "")

    def _update_fields(self, theme: dict, row: store.IssueRow, issue: Any,
                       evidence: ThemeEvidence) -> list[str] | None:
        """Rewrite what is ours and unchanged by people; return the fields sent (None: failed)."""
        tid, key, current = theme["theme_id"], row.issue_key, issue.raw["fields"]
        above, section = split_description(current.get("description"))
        description = live_description(theme, evidence, above)
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
        priority = self.settings.priority_for_rank(theme["rank"])
        current_priority = (current.get("priority") or {}).get("name")
        if (self.settings.set_priority and priority and current_priority == row.last_priority
                and priority != row.last_priority and row.last_priority is not None):
            update["priority"] = {"name": priority}
        if not update:
            return []
        self.night.intent(tid, {"update": key, "fields": update})
        if self._call("update", issue.update, fields=update,
                      notify=self.settings.notify_on_refresh, issue=key, theme_id=tid) is _FAILED:
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
        if self._call("comment", self.client.add_comment, row.issue_key, body,
                      issue=row.issue_key, theme_id=theme["theme_id"]) is _FAILED:
            return
        row.baseline_items, row.baseline_sources = theme["item_count"], sorted(evidence.sources)
        self.stats["commented"] += 1
        store.log_event(self.night.con, run_id=self.night.run_id, theme_id=theme["theme_id"],
                        issue_key=row.issue_key, event="commented",
                        detail=f"{before} -> {theme['item_count']} reports; new sources: "
                        f"{', '.join(new_sources) or 'none'}")

    def _closed(self, theme: dict, row: store.IssueRow, state: str,
                resolved: datetime | None) -> None:
        tid, key = theme["theme_id"], row.issue_key
        if row.jira_state != state or row.resolved_at != resolved:
            row.jira_state, row.resolved_at = state, resolved
        self.stats["closed_skipped"] += 1
        may_comment = state == "done" or self.settings.comment_on_declined
        if not may_comment or resolved is None or row.resurge_comment_for == resolved:
            self._save(row, event=f"{state}_respected")
            return
        new_count = store.items_since(self.night.con, tid, resolved, self.night.as_of)
        if new_count < self.settings.resurge_min_items:
            self._save(row, event=f"{state}_respected", detail=f"{new_count} new reports")
            return
        quotes = store.newest_items(self.night.con, tid, resolved, self.night.as_of)
        body = resurge_comment(theme, resolved=resolved, new_count=new_count, quotes=quotes)
        self.night.intent(tid, {"comment": key, "body": body})
        if self._call("comment", self.client.add_comment, key, body, issue=key,
                      theme_id=tid) is _FAILED:
            return
        self.night.sent(tid, key)
        row.resurge_comment_for = resolved
        self.stats["resurged"] += 1
        self._save(row, event="resurged", detail=f"{new_count} new reports since {resolved}")


__all__ = ["JiraSink"]
