"""The Jira issue a theme becomes (REST v2 fields, description in wiki markup)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime

from feedback_pipeline.deliver.jira.config import JiraConfig
from feedback_pipeline.markup import clean, jira_text
from feedback_pipeline.redact import safe_link_url

SUMMARY_MAX = 255
DESCRIPTION_MAX = 32_000  # Jira's limit is 32,767; keep a margin for the refresh marker
JIRA_TEXT_MAX = 32_767
# Everything below this (invisible) anchor is ours and refreshed nightly; text above is the PM's.
EVIDENCE_MARKER = "{anchor:feedback-pipeline-evidence}"


@dataclass(frozen=True)
class ThemeEvidence:
    """Warehouse facts about a theme beyond its ranking row (for live issues)."""

    weekly: list[tuple[datetime, int]] = field(default_factory=list)  # (week start, reports)
    sources: dict[str, int] = field(default_factory=dict)
    languages: dict[str, int] = field(default_factory=dict)
    links: list[tuple[str, str]] = field(default_factory=list)  # (title, url), newest first


THEME_LABEL_PREFIX = "feedback-theme-"
GLOBAL_ID = "feedback-pipeline:theme:{theme_id}"  # the remote link's id: one per theme and issue


def theme_label(theme_id: int) -> str:
    """The stable label that finds a theme's issue again (even with the warehouse lost)."""
    return f"{THEME_LABEL_PREFIX}{theme_id}"


def priority_for_rank(rank: int) -> str:
    return "High" if rank <= 3 else "Medium" if rank <= 10 else "Low"


def safe_url(url: str | None) -> str | None:
    """A source link fit for wiki markup: personal data in the query drops the query, in the
    rest of the URL the link (see ``redact.safe_link_url``, shared with the Slack digest)."""
    url = safe_link_url(url)
    # "!" would open an image inside the link; percent-encoded it means the same URL.
    url = url.replace("!", "%21") if url else None
    return url if url and re.match(r"https?://[^\s|\[\]{}\\]+$", url) else None


def _line_start(line: str) -> str:
    """A line that starts with a customer field: a list, heading, quote or rule marker there
    is escaped, so the field stays text."""
    return "\\" + line if re.match(r"[#\-]|(?:h[1-6]|bq)\.", line) else line


def breakdown_lines(breakdown: dict | str) -> list[str]:
    parts = json.loads(breakdown) if isinstance(breakdown, str) else breakdown
    return [
        f"|{name.replace('_', ' ')}|{c['value']}|{c['normalized']:.2f}|{c['weight']}|"
        f"{c['points']:.2f}|"
        for name, c in sorted(parts.items(), key=lambda kv: -kv[1]["points"])
    ]


def _evidence_lines(ev: ThemeEvidence) -> list[str]:
    lines = ["", "h2. Counts over time", "||week of||reports||"]
    lines += [f"|{week:%Y-%m-%d}|{n}|" for week, n in ev.weekly] or ["|_none_|0|"]
    lines += ["", "h2. Sources and languages",
              "* Sources: " + (", ".join(f"{jira_text(s, 60)} ({n})"
                                         for s, n in ev.sources.items()) or "_none_"),
              "* Languages: " + (", ".join(f"{jira_text(s, 20)} ({n})"
                                           for s, n in ev.languages.items()) or "_unknown_"),
              "", "h2. Source threads"]
    links = [(title, safe_url(url)) for title, url in ev.links]
    for title, url in links:
        text = jira_text(title, 120)
        lines.append(f"* [{text or url}|{url}]" if url else f"* {text or '(link withheld)'}")
    if not ev.links:
        lines.append("_no linkable threads_")
    return lines


def jira_description(theme: dict, evidence: ThemeEvidence | None = None) -> str:
    quotes = json.loads(theme["quotes"]) if isinstance(theme["quotes"], str) else theme["quotes"]
    lines = [
        "h2. Why this ranks",
        f"Rank *#{theme['rank']}*, score *{theme['score']:.2f}* "
        f"({theme['item_count']} reports from {theme['distinct_authors']} distinct customers; "
        f"{theme['support_count']} support tickets, {theme['community_count']} community posts).",
        "||component||value||normalised||weight||points||",
        *breakdown_lines(theme["breakdown"]),
        "",
        "h2. Activity",
        f"* Last {theme.get('window_days', 14)} days: {theme['recent_count']} reports "
        f"(previous period: {theme['previous_count']}, growth x{theme['growth']:.2f})",
        f"* First seen: {theme['first_seen']:%Y-%m-%d}, last seen: {theme['last_seen']:%Y-%m-%d}",
        f"* Votes/likes: {theme['votes']}",
        "",
        "h2. Keywords",
        _line_start(", ".join(jira_text(k, 80) for k in theme["keywords"] or [])) or "_none_",
        "",
        "h2. What customers say",
    ]
    for q in quotes:
        text = jira_text(q["text"], 500)
        url = safe_url(q.get("url"))
        link = (f" ([source|{url}])" if url else
                f" ({jira_text(q.get('source'), 60)} #{jira_text(q.get('external_id'), 80)})")
        lines.append(f"{{quote}}{text}{{quote}}{link}")
    if evidence is not None:
        lines += _evidence_lines(evidence)
    lines += ["", f"_Maintained by feedback-pipeline (theme {theme['theme_id']}). "
                  "This section is refreshed nightly; edits above it are kept._"]
    return "\n".join(lines)[:DESCRIPTION_MAX]


def jira_summary(theme: dict) -> str:
    title = clean(theme["title"], SUMMARY_MAX)
    suffix = f" ({theme['item_count']} reports)"
    text = f"Customer feedback: {title}"
    if len(text) + len(suffix) > SUMMARY_MAX:
        text = text[: SUMMARY_MAX - len(suffix) - 1].rstrip() + "…"
    return text + suffix


def live_description(theme: dict, evidence: ThemeEvidence, above: str | None = None) -> str:
    """A live issue's description: the PM's text (``above``), the marker, then our evidence.

    New issues get a short intro as ``above``; a refresh passes whatever is above the marker.
    """
    if above is None:
        above = (f"Customers keep reporting: *{jira_text(theme['title'], 200)}*\n\n"
                 "_Add context, decisions and acceptance criteria here, above the evidence. "
                 "Everything below is refreshed nightly by feedback-pipeline._\n")
    body = "----\n" + jira_description(theme, evidence)
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
    """The ``fields`` of a create-issue request for one ranked theme.

    Without ``evidence`` (dry run) the description is the evidence alone; with it (live), the
    description has the PM intro, the refresh marker, and the extra warehouse evidence.
    """
    fields: dict = {
        "project": {"key": config.project},
        "issuetype": {"name": config.issue_type},
        "summary": jira_summary(theme),
        "description": (jira_description(theme) if evidence is None
                        else live_description(theme, evidence)),
        "labels": [theme_label(theme["theme_id"]), *config.labels],
        "priority": {"name": priority_for_rank(theme["rank"])},
    }
    if evidence is None:
        return fields
    priority = config.priority_for_rank(theme["rank"])
    if config.set_priority and priority:
        fields["priority"] = {"name": priority}
    else:
        del fields["priority"]
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
    "EVIDENCE_MARKER", "GLOBAL_ID", "THEME_LABEL_PREFIX", "ThemeEvidence", "fade_comment",
    "growth_comment", "jira_description",
    "jira_issue_fields", "jira_summary", "lineage_marker", "link_comment", "live_description",
    "merge_comment", "priority_for_rank", "resurge_comment", "revive_comment", "safe_url",
    "split_comment", "split_description", "theme_label",
]
