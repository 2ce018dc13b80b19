"""The Jira mapping follows theme lineage (``theme_events``), each event once.

- ``merged_into`` (A into B): if both have an issue, one issue link (``merge_link_type``, A's
  issue inward) and one comment on A's issue; nothing is closed or transitioned. If only A has
  one, B inherits it (the mapping row moves, the issue's ``feedback-theme-<id>`` label follows)
  and one comment says so: no new issue is filed for the merged theme.
- ``split_from`` (part P split off theme T): T keeps its id and issue (``cluster/identity.py``
  gives the id to the best-matching part). P gets an issue only if it qualifies on its own (the
  usual create path); then one link (``split_link_type``, P's issue inward) and one comment on
  T's issue. Until then the event waits.
- ``faded`` / ``revived``: one comment on the theme's open issue; a revival is announced only
  after an announced fade, and a Done issue is left to the resurgence comment (sink.py). Of
  several fades and revivals not yet followed (Jira was down), only the latest counts.

Events older than the issue they would touch are skipped, so history is not replayed onto it.
Crash safety: each event is recorded in ``jira_lineage`` and its requests in the outbox
(``deliveries``) as pending before anything is sent. Before a link is created the issue's
links are read, and before a comment is added the issue's comments are searched for the
comment's invisible anchor, so a rerun after a crash or timeout never sends either twice.
"""

from __future__ import annotations

from typing import Any

from feedback_pipeline.deliver.jira import store
from feedback_pipeline.deliver.jira.client import all_comments, no_retries
from feedback_pipeline.deliver.jira.night import JiraNight, JiraRequestFailed
from feedback_pipeline.deliver.jira.render import (
    fade_comment,
    lineage_marker,
    merge_comment,
    revive_comment,
    split_comment,
    theme_label,
)
from feedback_pipeline.warehouse.db import transaction


class _Failed(Exception):
    """One Jira request of one event failed; the event is retried on the next run."""


class LineageFollower:
    """Follows ``theme_events`` during one night of the Jira sink."""

    def __init__(self, night: JiraNight) -> None:
        self.night = night
        self.settings = night.settings
        self.con = night.con
        self.run_id = night.run_id
        self.as_of = night.as_of
        for name in ("lineage_linked", "lineage_commented", "lineage_moved"):
            night.stats.setdefault(name, 0)

    # --- warehouse only, before new issues are chosen ---------------------------------------
    def plan(self, issues: dict[int, store.IssueRow], unsettled: set[int]) -> None:
        """Move the issue of a theme merged into a theme without one (no Jira call).

        ``unsettled``: themes whose create may have reached Jira; a merge into one of them
        waits for ``deliver`` (after the label look-up), which then links instead.
        """
        pending = store.pending_lineage(self.con)
        if not self.settings.follow_lineage:
            for ev in pending:
                store.save_lineage(self.con, ev, status="skipped", run_id=self.run_id,
                                   detail="follow_lineage is off")
            return
        for ev in pending:
            if ev.event == "merged_into" and ev.action != "moved" \
                    and ev.other_theme not in unsettled:
                self._move_if_unmapped(ev, issues)

    def _move_if_unmapped(self, ev: store.LineageEvent, issues: dict[int, store.IssueRow]) -> bool:
        a, b = ev.theme_id, ev.other_theme
        row = issues.get(a)
        if row is None or b in issues or not self._predates(a, ev) \
                or store.lineage_done_before(self.con, ev):
            return False
        facts = store.theme_facts(self.con, b, self.as_of)
        sources = sorted(store.theme_evidence(self.con, b, as_of=self.as_of).sources)
        ev.action, ev.issue_key, ev.other_key = "moved", row.issue_key, None
        with transaction(self.con):
            store.move_issue(self.con, from_theme=a, to_theme=b, baseline_items=facts["reports"],
                             baseline_sources=sources, run_id=self.run_id)
            store.save_lineage(self.con, ev, status="pending", run_id=self.run_id,
                               detail=f"issue {row.issue_key} moved from theme {a} to {b}")
            store.log_event(self.con, run_id=self.run_id, theme_id=b, issue_key=row.issue_key,
                            event="lineage_moved", detail=f"theme {a} merged into {b}")
        issues.clear()
        issues.update(store.load_issues(self.con))
        self.night.stats["lineage_moved"] += 1
        return True

    # --- Jira, after creates --------------------------------------------------------------
    def follow(self, issues: dict[int, store.IssueRow]) -> None:
        """Link, comment and relabel for every lineage event not followed yet."""
        if not self.settings.follow_lineage:
            return
        pending = store.pending_lineage(self.con)
        latest = {ev.theme_id: ev for ev in pending if ev.event in ("faded", "revived")}
        for ev in pending:
            if ev.event in ("faded", "revived") and latest[ev.theme_id] is not ev:
                store.save_lineage(self.con, ev, status="skipped", run_id=self.run_id,
                                   detail="superseded by a later fade or revival")
                continue
            handler = {"merged_into": self._merged, "split_from": self._split,
                       "faded": self._faded, "revived": self._revived}[ev.event]
            try:
                handler(ev, issues)
            except _Failed as exc:
                self._fail(ev, str(exc))

    def _merged(self, ev: store.LineageEvent, issues: dict[int, store.IssueRow]) -> None:
        a, b = ev.theme_id, ev.other_theme
        if ev.action != "moved":
            row = issues.get(a)
            if row is None or not self._predates(a, ev):
                return self._skip(ev, f"theme {a} had no issue when it merged")
            if store.lineage_done_before(self.con, ev):
                return self._skip(ev, "this merge was followed before")
            if b not in issues:
                if not self._move_if_unmapped(ev, issues):
                    return self._skip(ev, f"theme {a}'s issue could not move to {b}")
            else:
                ev.action, ev.issue_key, ev.other_key = "link", row.issue_key, issues[b].issue_key
                if ev.issue_key == ev.other_key:
                    return self._skip(ev, "both themes already share one issue")
        theme, into = (store.theme_facts(self.con, t, self.as_of) for t in (a, b))
        marker = lineage_marker("merged", a, b)
        body = merge_comment(theme, into, into_key=ev.other_key, detail=ev.detail,
                             reports=into["reports"], marker=marker)
        self._intent(ev, {"link": [ev.issue_key, ev.other_key, self.settings.merge_link_type]
                          if ev.action == "link" else None,
                          "labels": [theme_label(b), f"-{theme_label(a)}"]
                          if ev.action == "moved" else None,
                          "comment": {"issue": ev.issue_key, "body": body}})
        if ev.action == "moved":
            self._relabel(ev.issue_key, add=theme_label(b), remove=theme_label(a))
        else:
            self._link(self.settings.merge_link_type, ev.issue_key, ev.other_key)
        self._comment(ev.issue_key, body, marker)
        self._done(ev, f"theme {a} merged into {b}")

    def _split(self, ev: store.LineageEvent, issues: dict[int, store.IssueRow]) -> None:
        part, original = ev.theme_id, ev.other_theme
        row = issues.get(original)
        if row is None or not self._predates(original, ev):
            return self._skip(ev, f"theme {original} had no issue when {part} split off")
        if store.lineage_done_before(self.con, ev):
            return self._skip(ev, "this split was followed before")
        part_row = issues.get(part)
        if part_row is None:
            if store.theme_facts(self.con, part, self.as_of)["status"] == "active":
                ev.action = "link"
                store.save_lineage(self.con, ev, status="waiting", run_id=self.run_id,
                                   detail=f"theme {part} has no issue (yet)")
                return None
            return self._skip(ev, f"theme {part} never qualified for an issue")
        if part_row.issue_key == row.issue_key:
            return self._skip(ev, "both themes share one issue")
        ev.action, ev.issue_key, ev.other_key = "link", row.issue_key, part_row.issue_key
        facts, orig = (store.theme_facts(self.con, t, self.as_of) for t in (part, original))
        marker = lineage_marker("split", part, original)
        body = split_comment(facts, orig, part_key=part_row.issue_key, detail=ev.detail,
                             reports=facts["reports"], original_reports=orig["reports"],
                             marker=marker)
        self._intent(ev, {"link": [part_row.issue_key, row.issue_key,
                                   self.settings.split_link_type],
                          "comment": {"issue": row.issue_key, "body": body}})
        self._link(self.settings.split_link_type, part_row.issue_key, row.issue_key)
        self._comment(row.issue_key, body, marker)
        self._done(ev, f"theme {part} split from {original}")
        return None

    def _faded(self, ev: store.LineageEvent, issues: dict[int, store.IssueRow]) -> None:
        self._fade_or_revive(ev, issues, announce_after=("revived", None))

    def _revived(self, ev: store.LineageEvent, issues: dict[int, store.IssueRow]) -> None:
        self._fade_or_revive(ev, issues, announce_after=("faded",))

    def _fade_or_revive(self, ev: store.LineageEvent, issues: dict[int, store.IssueRow], *,
                        announce_after: tuple[str | None, ...]) -> None:
        tid = ev.theme_id
        row = issues.get(tid)
        if row is None or not self._predates(tid, ev):
            return self._skip(ev, "no issue when it happened")
        if store.last_announced(self.con, tid) not in announce_after:
            return self._skip(ev, "nothing to announce (no fade announced before a revival, "
                              "or the fade was announced already)")
        issue = self._jira("read", self.night.client.issue, row.issue_key,
                           fields="status,resolution", issue=row.issue_key)
        state = self.night.issue_state(issue.raw["fields"])
        if state != "open":
            return self._skip(ev, f"issue {row.issue_key} is {state}")
        facts = store.theme_facts(self.con, tid, self.as_of)
        marker = lineage_marker(ev.event, tid, ev.run_id)
        body = (fade_comment(facts, last_seen=facts["last_seen"], as_of=self.as_of, marker=marker)
                if ev.event == "faded" else
                revive_comment(facts, reports=facts["reports"], last_seen=facts["last_seen"],
                               marker=marker))
        ev.action, ev.issue_key = "comment", row.issue_key
        self._intent(ev, {"comment": {"issue": row.issue_key, "body": body}})
        self._comment(row.issue_key, body, marker)
        self._done(ev, f"theme {tid} {ev.event}")
        return None

    # --- the Jira requests, each checked first so a rerun never repeats one -----------------
    def _link(self, link_type: str, inward: str, outward: str) -> None:
        issue = self._jira("read", self.night.client.issue, inward, fields="issuelinks",
                           issue=inward)
        for link in issue.raw["fields"].get("issuelinks") or []:
            other = (link.get("outwardIssue") or link.get("inwardIssue") or {}).get("key")
            if other == outward and (link.get("type") or {}).get("name") == link_type:
                return  # made by an earlier attempt whose answer was lost
        with no_retries(self.night.client):  # a POST the library must not repeat on its own
            self._jira("link", self.night.client.create_issue_link, link_type, inward, outward,
                       issue=inward)
        self.night.stats["lineage_linked"] += 1

    def _comment(self, key: str, body: str, marker: str) -> None:
        existing = self._jira("read", all_comments, self.night.client, key, issue=key)
        if any(marker in (c.body or "") for c in existing):
            return
        self._jira("comment", self.night.client.add_comment, key, body, issue=key)
        self.night.stats["lineage_commented"] += 1

    def _relabel(self, key: str, *, add: str, remove: str) -> None:
        issue = self._jira("read", self.night.client.issue, key, fields="labels", issue=key)
        self._jira("update", issue.update, update={"labels": [{"add": add}, {"remove": remove}]},
                   notify=self.settings.notify_on_refresh, issue=key)

    def _jira(self, operation: str, fn: Any, *args: Any, issue: str, **kwargs: Any) -> Any:
        try:
            return self.night.call(operation, fn, *args, issue=issue, **kwargs)
        except JiraRequestFailed as exc:
            raise _Failed(f"timeout during {operation} on {issue}; the next run checks Jira "
                          "before repeating it" if exc.timeout else str(exc)) from None

    # --- bookkeeping --------------------------------------------------------------------
    def _predates(self, theme_id: int, ev: store.LineageEvent) -> bool:
        created = store.issue_created_at(self.con, theme_id)
        return created is not None and created <= ev.happened_at

    def _intent(self, ev: store.LineageEvent, request: dict) -> None:
        self.night.intent(ev.theme_id, {ev.event: request}, key=ev.outbox_key)
        store.save_lineage(self.con, ev, status="pending", run_id=self.run_id,
                           detail="requests recorded in the outbox")

    def _done(self, ev: store.LineageEvent, detail: str) -> None:
        self.night.sent(ev.theme_id, ev.issue_key, key=ev.outbox_key)
        store.save_lineage(self.con, ev, status="done", run_id=self.run_id, detail=detail)
        store.log_event(self.con, run_id=self.run_id, theme_id=ev.theme_id,
                        issue_key=ev.issue_key, event=f"lineage_{ev.event}", detail=detail)

    def _skip(self, ev: store.LineageEvent, why: str) -> None:
        store.save_lineage(self.con, ev, status="skipped", run_id=self.run_id, detail=why)

    def _fail(self, ev: store.LineageEvent, error: str) -> None:
        store.save_lineage(self.con, ev, status="failed", run_id=self.run_id, detail=error)
        self.night.failed(ev.theme_id, error, key=ev.outbox_key, issue_key=ev.issue_key)


__all__ = ["LineageFollower"]
