"""One living Jira issue per theme: created once, refreshed nightly, never a duplicate.

Each night, for the ranked themes:

1. every qualifying theme without an issue gets a 'pending' outbox row first;
2. themes without a recorded issue (new, or whose last create may have reached Jira) are looked
   up by their stable label ``feedback-theme-<id>`` with one JQL search, and adopted if found;
   search lags behind creates, so a theme whose create was sent but not answered is also looked
   for by direct reads of the keys allocated since (``recover.py``), and adopted if found;
3. the rest are matched against the project's open and recently closed issues (same embedding
   model); a close match is linked (label, remote link, one evidence comment), not duplicated;
4. the rest are created (no automatic retry: a timeout leaves the row pending for step 2);
5. every theme with an issue is refreshed (``refresh.py``): the evidence below the marker is
   rewritten in place, a comment is added only on a significant change, Done and Won't Do are
   respected, and fields a person changed since we set them are left alone.

Theme lineage (``lineage.py``) is followed around these steps: a merged theme's issue moves to
the theme it merged into before step 1 (when that one has none); links between merged or split
themes' issues and the one comment per merge, split, fade or revival come after step 4.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from feedback_pipeline.crashpoints import crashpoint
from feedback_pipeline.deliver import outbox
from feedback_pipeline.deliver.jira import store
from feedback_pipeline.deliver.jira.client import build_client, create_issue
from feedback_pipeline.deliver.jira.config import JiraConfig
from feedback_pipeline.deliver.jira.evidence import issue_evidence
from feedback_pipeline.deliver.jira.lineage import LineageFollower
from feedback_pipeline.deliver.jira.night import (
    FAILED,
    THEME_KEY_PREFIX,
    JiraNight,
    JiraRequestFailed,
)
from feedback_pipeline.deliver.jira.recover import attempted_after, find_created, high_water
from feedback_pipeline.deliver.jira.refresh import IssueRefresher
from feedback_pipeline.deliver.jira.render import (
    THEME_LABEL_PREFIX,
    jira_issue_fields,
    link_comment,
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

    def deliver(self, run: Run, ranking: list[dict]) -> dict:
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
        self._after_key: int | None = None  # the project's highest issue number before creates
        self._hold: set[int] = set()  # may exist in Jira already: never created tonight
        issues = store.load_issues(con)
        lineage = LineageFollower(self.night)
        lineage.plan(issues, self._unsettled() - set(issues))
        # Tonight's evidence and payloads come from the warehouse as it is before anything is
        # sent, as in a dry run: an issue created tonight shows among related themes tomorrow.
        evidence = {t["theme_id"]: issue_evidence(con, t, self.settings, as_of=as_of)
                    for t in ranking if t["theme_id"] in issues or self.qualifies(t)}
        new = [t for t in ranking if self.qualifies(t) and t["theme_id"] not in issues]
        self._fields: dict[int, dict] = {}
        for theme in new:
            fields = jira_issue_fields(theme, self.settings, evidence[theme["theme_id"]])
            self._fields[theme["theme_id"]] = fields
            # keep the mark of an earlier create whose answer was lost (step 2 reads it)
            mark = attempted_after(self.night, theme["theme_id"])
            self.night.intent(theme["theme_id"], {"create": {"fields": fields}, **(
                {"after_key": mark} if mark is not None else {})})
        try:
            if self.client is None:
                self.client = build_client(self.settings)
            self.night.client = self.client
            unsettled = {t["theme_id"] for t in new} | (self._unsettled() - set(issues))
            # An adopted issue was created with tonight's evidence (or the warehouse is lost):
            # that is its baseline, so adopting it never looks like growth from 0 reports.
            baselines = {t["theme_id"]: (t["item_count"], sorted(evidence[t["theme_id"]].sources))
                         for t in ranking if t["theme_id"] in evidence}
            self._adopt_by_label(issues, unsettled, baselines=baselines)
            self._adopt_created(issues, unsettled, baselines=baselines)
            held = set(issues) | self._hold
            new = [t for t in new if t["theme_id"] not in held]
            if new and self.settings.backlog_match:
                new = self._match_backlog(new, issues, self.embedder)
            for theme in new:
                self._create(theme, evidence[theme["theme_id"]], issues)
            lineage.follow(issues)
            refresher = IssueRefresher(self.night)
            for theme in ranking:  # a merged theme's issue may have moved to one of these
                if theme["theme_id"] in issues and theme["theme_id"] not in evidence:
                    evidence[theme["theme_id"]] = issue_evidence(
                        con, theme, self.settings, as_of=as_of)
            for theme in ranking:
                row = issues.get(theme["theme_id"])
                if row is not None and theme["theme_id"] not in self._fresh:
                    refresher.refresh(theme, row, evidence[theme["theme_id"]])
        except SinkError as exc:  # JiraAbort included: nothing more can be sent tonight
            outbox.note_error(con, "jira", str(exc))
            raise
        self.stats["issues"] = len(store.load_issues(con))
        if self.errors:
            raise SinkError(f"{len(self.errors)} Jira request(s) failed (kept in the outbox for "
                            "the next run): " + "; ".join(self.errors))
        return self.stats

    def _unsettled(self) -> set[int]:
        return outbox.unsettled_themes(self.night.con, "jira", THEME_KEY_PREFIX)

    def _search(self, jql: str, fields: list[str]) -> list:
        return self.night.try_call("search", self.client.search_issues, jql, maxResults=False,
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
                    theme_id = int(label[len(THEME_LABEL_PREFIX):]) if label.startswith(
                        THEME_LABEL_PREFIX) and label[len(THEME_LABEL_PREFIX):].isdigit() else None
                    if theme_id in theme_ids and theme_id not in issues:
                        self._adopt(theme_id, issue, issues, baselines, detail="found by label "
                                    f"{label} (a previous create reached Jira)")

    def _adopt_created(self, issues: dict[int, store.IssueRow], theme_ids: set[int], *,
                       baselines: dict[int, tuple[int, list[str]]]) -> None:
        """Themes whose create was sent unanswered, missed by the (lagging) label search."""
        after = {t: mark for t in sorted(theme_ids - set(issues))
                 if (mark := attempted_after(self.night, t)) is not None}
        if not after:
            return
        try:
            found = find_created(self.night, after)
        except JiraRequestFailed as exc:  # not known whether they exist: create none of them
            for theme_id in after:
                self.night.failed(theme_id, f"cannot check whether the last create reached "
                                  f"Jira ({exc}); not creating it again tonight")
            self._hold |= set(after)
            return
        for theme_id, issue in found.items():
            self._adopt(theme_id, issue, issues, baselines, detail=f"found by reading "
                        f"{issue.key} directly (a previous create reached Jira; search lagged)")

    def _adopt(self, theme_id: int, issue: Any, issues: dict[int, store.IssueRow],
               baselines: dict[int, tuple[int, list[str]]], *, detail: str) -> None:
        f = issue.raw["fields"]
        items, sources = baselines.get(theme_id, (0, None))
        row = store.IssueRow(
            theme_id=theme_id, issue_key=issue.key, origin="adopted",
            last_summary=f.get("summary"), last_priority=(f.get("priority") or {}).get("name"),
            baseline_items=items, baseline_sources=sources)
        self.night.save(row, event="adopted", detail=detail)
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
            if not any(lb.startswith(THEME_LABEL_PREFIX) for lb in i.raw["fields"].get("labels")
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

    def _link(self, theme: dict, target: Any, sim: float,
              issues: dict[int, store.IssueRow]) -> bool:
        tid, key = theme["theme_id"], target.key
        comment = link_comment(theme, similarity=sim, evidence_url=self.night.evidence_url(tid))
        self.night.intent(tid, {"link": key, "similarity": sim, "comment": comment})
        # The label makes the link findable again if the warehouse is lost.
        if self.night.try_call("update", target.update,
                               update={"labels": [{"add": theme_label(tid)}]},
                               notify=self.settings.notify_on_refresh, issue=key,
                               theme_id=tid) is FAILED:
            return False
        if self.night.remote_link(theme, key) is FAILED:
            return False
        if self.night.try_call("comment", self.client.add_comment, key, comment, issue=key,
                               theme_id=tid) is FAILED:
            return False
        row = store.IssueRow(theme_id=tid, issue_key=key, origin="linked",
                             baseline_items=theme["item_count"],
                             baseline_sources=self._sources(tid))
        self.night.save(row, event="linked", detail=f"similarity {sim:.3f}")
        self.night.sent(tid, key)
        issues[tid] = row
        self._fresh.add(tid)
        self.stats["linked"] += 1
        return True

    def _create(self, theme: dict, evidence: ThemeEvidence,
                issues: dict[int, store.IssueRow]) -> None:
        tid = theme["theme_id"]
        fields = self._fields[tid]  # the payload recorded at the start of the night
        if self._after_key is None:
            found = self.night.try_call("search", high_water, self.night, issues, theme_id=tid)
            if found is FAILED:
                return
            self._after_key = found
        # The label in `fields` is the marker; after_key tells where a lost answer's issue is.
        self.night.intent(tid, {"create": {"fields": fields}, "after_key": self._after_key})
        crashpoint("jira.create.intent")
        issue = self.night.try_call("create", create_issue, self.client, fields,
                                    max_retries=self.settings.max_retries, theme_id=tid)
        if issue is FAILED:
            return
        crashpoint("jira.create.sent")
        _, section = split_description(fields["description"])
        row = store.IssueRow(
            theme_id=tid, issue_key=issue.key, origin="created", last_summary=fields["summary"],
            last_priority=(fields.get("priority") or {}).get("name"),
            evidence_hash=fingerprint(section or ""), baseline_items=theme["item_count"],
            baseline_sources=sorted(evidence.sources))
        self.night.save(row, event="created")
        self.night.sent(tid, issue.key)
        issues[tid] = row
        self._fresh.add(tid)
        self.stats["created"] += 1

    def _sources(self, theme_id: int) -> list[str]:
        n = self.night
        return sorted(store.theme_evidence(n.con, theme_id, as_of=n.as_of).sources)


__all__ = ["JiraSink"]
