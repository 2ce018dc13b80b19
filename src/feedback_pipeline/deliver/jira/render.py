"""The Jira issue a theme becomes (REST v2 fields, description in wiki markup)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime

from feedback_pipeline.deliver.jira.body import issue_body, safe_url
from feedback_pipeline.deliver.jira.config import THEME_LABEL_PREFIX, JiraConfig
from feedback_pipeline.deliver.jira.triage import decide_issue_type, decide_priority
from feedback_pipeline.markup import clean, jira_text

SUMMARY_MAX = 255
DESCRIPTION_MAX = 32_000  # Jira's limit is 32,767; keep a margin for the refresh marker
JIRA_TEXT_MAX = 32_767
# Everything below this (invisible) anchor is ours and refreshed nightly; text above is the PM's.
EVIDENCE_MARKER = "{anchor:feedback-pipeline-evidence}"


@dataclass(frozen=True)
class Related:
    """Another active theme near this one (centroid cosine), with its issue key if it has one."""

    theme_id: int
    title: str
    similarity: float
    issue_key: str | None = None
    duplicate: bool = False


@dataclass(frozen=True)
class ThemeEvidence:
    """Warehouse facts about a theme beyond its ranking row (``evidence.issue_evidence``)."""

    weekly: list[tuple[datetime, int]] = field(default_factory=list)  # (week start, reports)
    sources: dict[str, int] = field(default_factory=dict)
    languages: dict[str, int] = field(default_factory=dict)
    links: list[tuple[str, str]] = field(default_factory=list)  # (title, url), newest first
    plans: dict[str, int] = field(default_factory=dict)  # plan -> customers, most first
    accounts: int = 0  # distinct customer accounts (organisations) when the source names them
    quotes: list[dict] | None = None  # the quotes shown, with their kind; None: the theme's own
    urgency: dict[str, dict[str, int]] = field(default_factory=dict)  # rule -> {term: reports}
    related: list[Related] = field(default_factory=list)
    # customer value (theme_value.sql): {accounts, arr, by_plan, by_segment, top_accounts}
    value: dict | None = None


GLOBAL_ID = "feedback-pipeline:theme:{theme_id}"  # the remote link's id: one per theme and issue


def theme_label(theme_id: int) -> str:
    """The stable label that finds a theme's issue again (even with the warehouse lost)."""
    return f"{THEME_LABEL_PREFIX}{theme_id}"


def priority_for_rank(rank: int) -> str:
    return "High" if rank <= 3 else "Medium" if rank <= 10 else "Low"


def jira_description(theme: dict, evidence: ThemeEvidence | None = None,
                     config: JiraConfig | None = None) -> str:
    """The evidence section of ``theme``'s issue (see ``body.py`` for its layout)."""
    config, evidence = config or JiraConfig(), evidence or ThemeEvidence()
    priority = decide_priority(theme, evidence.urgency, config) if config.set_priority else None
    return issue_body(theme, evidence, config, priority=priority,
                      issue_type=decide_issue_type(theme, config))[:DESCRIPTION_MAX]


def jira_summary(theme: dict) -> str:
    """Stable from night to night: the theme's title only (its counts are in the description,
    so a growing theme does not rewrite the summary, nor notify its watchers, every night)."""
    text = f"Customer feedback: {clean(theme['title'], SUMMARY_MAX)}"
    return text if len(text) <= SUMMARY_MAX else text[: SUMMARY_MAX - 1].rstrip() + "…"


# The PM intro of issues created before the summary-first layout; it is ours, so a refresh
# drops it (unless someone edited it) and the description opens with the summary again.
_OLD_INTRO = re.compile(
    r"Customers keep reporting: \*.*\*\n\n_Add context, decisions and acceptance criteria here, "
    r"above the evidence\. Everything below is refreshed nightly by feedback-pipeline\._\s*",
    re.S)


def live_description(theme: dict, evidence: ThemeEvidence, above: str | None = None,
                     config: JiraConfig | None = None) -> str:
    """A live issue's description: the PM's text (``above``), the marker, then our evidence.

    A new issue has no text above the (invisible) marker, so it opens with the summary; a
    refresh passes whatever a person wrote above the marker and keeps it.
    """
    above = "" if above is None or _OLD_INTRO.fullmatch(above) else above
    body = jira_description(theme, evidence, config)
    if not above.strip():
        return f"{EVIDENCE_MARKER}\n{body[:JIRA_TEXT_MAX - len(EVIDENCE_MARKER) - 1]}"
    body = "----\n" + body
    room = JIRA_TEXT_MAX - len(above) - len(EVIDENCE_MARKER) - 2
    return f"{above.rstrip()}\n{EVIDENCE_MARKER}\n{body[:max(room, 0)]}"


def split_description(description: str | None) -> tuple[str, str | None]:
    """(text above the marker, our evidence section or None when the marker is gone)."""
    text = description or ""
    if EVIDENCE_MARKER not in text:
        return text, None
    above, below = text.split(EVIDENCE_MARKER, 1)
    return above, below.lstrip("\n")


def jira_issue_fields(theme: dict, config: JiraConfig,
                      evidence: ThemeEvidence | None = None) -> dict:
    """The ``fields`` of the create-issue request for one ranked theme: the one payload, built
    the same way for the dry-run outbox and the live sink (both pass
    ``evidence.issue_evidence``), so a dry run shows exactly what would be filed."""
    evidence = evidence or ThemeEvidence()
    fields: dict = {
        "project": {"key": config.project},
        "issuetype": {"name": decide_issue_type(theme, config).value},
        "summary": jira_summary(theme),
        "description": live_description(theme, evidence, config=config),
        "labels": [theme_label(theme["theme_id"]), *config.labels],
    }
    priority = decide_priority(theme, evidence.urgency, config).value
    if config.set_priority and priority:
        fields["priority"] = {"name": priority}
    if config.components:
        fields["components"] = [{"name": c} for c in config.components]
    fields.update(config.custom_fields)
    return fields


def _quote_lines(quotes: list[tuple[str, str | None]]) -> list[str]:
    lines = []
    for text, url in quotes:
        link = safe_url(url)
        lines.append(f"{{quote}}{jira_text(text, 400)}{{quote}}"
                     + (f" ([source|{link}])" if link else ""))
    return lines


def growth_comment(theme: dict, *, before: int, new_sources: list[str]) -> str:
    """The comment for a significant change (volume grew past the factor, or a new source)."""
    lines = ["h3. feedback-pipeline: this theme changed significantly",
             f"* Reports: {before} → *{theme['item_count']}* "
             f"({theme['distinct_authors']} distinct customers), now ranked #{theme['rank']}"]
    if new_sources:
        lines.append("* New source(s): " + ", ".join(jira_text(s, 60) for s in new_sources))
    lines.append("The evidence section of the description has been refreshed.")
    return "\n".join(lines)


def resurge_comment(theme: dict, *, resolved: datetime, new_count: int,
                    quotes: list[tuple[str, str | None]]) -> str:
    """The one comment on a Done issue whose theme comes back."""
    return "\n".join([
        "h3. feedback-pipeline: this theme resurged after the issue was resolved",
        f"*{new_count}* new reports since it was resolved on {resolved:%Y-%m-%d} "
        f"({theme['item_count']} in total, ranked #{theme['rank']}). The issue is not re-filed; "
        "reopen it or file a follow-up if needed. Newest reports:",
        *_quote_lines(quotes)])


def link_comment(theme: dict, *, similarity: float, evidence_url: str) -> str:
    """The evidence comment on an existing backlog issue a theme was matched to."""
    quotes = json.loads(theme["quotes"]) if isinstance(theme["quotes"], str) else theme["quotes"]
    return "\n".join([
        "h3. feedback-pipeline: customer feedback matches this issue",
        f"Theme *{jira_text(theme['title'], 200)}* (similarity {similarity:.2f}): "
        f"{theme['item_count']} reports from {theme['distinct_authors']} distinct customers, "
        f"ranked #{theme['rank']} (score {theme['score']:.2f}). "
        f"[Evidence|{evidence_url}]",
        *_quote_lines([(q["text"], q.get("url")) for q in (quotes or [])[:3]])])


def lineage_marker(*parts: object) -> str:
    """An invisible anchor that identifies one lineage comment (found again on a rerun)."""
    name = "-".join(re.sub(r"[^A-Za-z0-9]+", "-", str(p)).strip("-") for p in parts)
    return f"{{anchor:feedback-lineage-{name}}}"


def _theme_ref(theme: dict) -> str:
    return f"theme {theme['theme_id']} (*{jira_text(theme['title'] or '', 120)}*)"


def merge_comment(theme: dict, into: dict, *, into_key: str | None, detail: str, reports: int,
                  marker: str) -> str:
    """The one comment on a merged theme's issue: linked to ``into_key``, or (None) now
    tracking the theme it merged into, which had no issue."""
    moved = f"{detail}" if detail else "most of its reports moved"
    if into_key is None:
        return "\n".join([
            "h3. feedback-pipeline: this issue now tracks a merged theme",
            f"Customer feedback {_theme_ref(theme)} was merged into {_theme_ref(into)}: {moved}. "
            f"That theme had no issue, so this one tracks it from now on ({reports} reports); "
            "the evidence section follows it.", marker])
    return "\n".join([
        f"h3. feedback-pipeline: this theme was merged into {into_key}",
        f"Customer feedback {_theme_ref(theme)} was merged into {_theme_ref(into)}, tracked in "
        f"{into_key}: {moved}; {reports} reports there in total. New evidence goes to "
        f"{into_key}; this issue is left as it is.", marker])


def split_comment(part: dict, original: dict, *, part_key: str, detail: str, reports: int,
                  original_reports: int, marker: str) -> str:
    """The one comment on the original theme's issue when a part split off with its own issue."""
    return "\n".join([
        f"h3. feedback-pipeline: part of this theme split off into {part_key}",
        f"Customer feedback {_theme_ref(part)} split off from {_theme_ref(original)}"
        + (f" ({detail})" if detail else "") + f". It qualified for its own issue, {part_key} "
        f"({reports} reports); this issue keeps the original theme ({original_reports} reports).",
        marker])


def fade_comment(theme: dict, *, last_seen: datetime | None, as_of: datetime,
                 marker: str) -> str:
    """The one comment when a theme with an open issue faded (no new reports matched it)."""
    since = (f" since {last_seen:%Y-%m-%d} ({max((as_of - last_seen).days, 0)} days)"
             if last_seen else "")
    return "\n".join([
        "h3. feedback-pipeline: this theme faded",
        f"No new reports have matched customer feedback {_theme_ref(theme)}{since}; it is no "
        "longer ranked. The issue is left as it is; one comment will follow if the theme comes "
        "back.", marker])


def revive_comment(theme: dict, *, reports: int, last_seen: datetime | None,
                   marker: str) -> str:
    """The one comment when a faded theme with an open issue matches new reports again."""
    newest = f", the newest on {last_seen:%Y-%m-%d}" if last_seen else ""
    return "\n".join([
        "h3. feedback-pipeline: this theme is back",
        f"Customer feedback {_theme_ref(theme)} matches new reports again ({reports} reports in "
        f"total{newest}).", marker])


__all__ = [
    "EVIDENCE_MARKER", "GLOBAL_ID", "THEME_LABEL_PREFIX", "Related", "ThemeEvidence",
    "fade_comment",
    "growth_comment", "jira_description",
    "jira_issue_fields", "jira_summary", "lineage_marker", "link_comment", "live_description",
    "merge_comment", "priority_for_rank", "resurge_comment", "revive_comment", "safe_url",
    "split_comment", "split_description", "theme_label",
]
