"""The Jira issue a theme becomes (REST v2 fields, description in wiki markup)."""

from __future__ import annotations

import json

from ..config import JiraConfig
from ..redact import redact

SUMMARY_MAX = 255
DESCRIPTION_MAX = 32_000  # Jira's limit is 32,767; keep a margin for the refresh marker


def theme_label(theme_id: int) -> str:
    return f"feedback-theme-{theme_id}"


def priority_for_rank(rank: int) -> str:
    return "High" if rank <= 3 else "Medium" if rank <= 10 else "Low"


def _wiki_escape(text: str) -> str:
    # Characters that open wiki-markup constructs inside free text.
    for ch in "{}[]|*_":
        text = text.replace(ch, "\\" + ch)
    return " ".join(text.split())


def breakdown_lines(breakdown: dict | str) -> list[str]:
    parts = json.loads(breakdown) if isinstance(breakdown, str) else breakdown
    return [
        f"|{name.replace('_', ' ')}|{c['value']}|{c['normalized']:.2f}|{c['weight']}|{c['points']:.2f}|"
        for name, c in sorted(parts.items(), key=lambda kv: -kv[1]["points"])
    ]


def jira_description(theme: dict) -> str:
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
        ", ".join(theme["keywords"] or []) or "_none_",
        "",
        "h2. What customers say",
    ]
    for q in quotes:
        text = _wiki_escape(redact(q["text"]))[:500]
        link = f" ([source|{q['url']}])" if q.get("url") else f" ({q['source']} #{q['external_id']})"
        lines.append(f"{{quote}}{text}{{quote}}{link}")
    lines += ["", f"_Maintained by feedback-pipeline (theme {theme['theme_id']}). "
                  "This section is refreshed nightly; edits above it are kept._"]
    return "\n".join(lines)[:DESCRIPTION_MAX]


def jira_summary(theme: dict) -> str:
    title = redact(" ".join(theme["title"].split()))
    suffix = f" ({theme['item_count']} reports)"
    text = f"Customer feedback: {title}"
    if len(text) + len(suffix) > SUMMARY_MAX:
        text = text[: SUMMARY_MAX - len(suffix) - 1].rstrip() + "…"
    return text + suffix


def jira_issue_fields(theme: dict, config: JiraConfig) -> dict:
    """The ``fields`` of a create-issue request for one ranked theme."""
    return {
        "project": {"key": config.project},
        "issuetype": {"name": config.issue_type},
        "summary": jira_summary(theme),
        "description": jira_description(theme),
        "labels": [theme_label(theme["theme_id"]), *config.labels],
        "priority": {"name": priority_for_rank(theme["rank"])},
    }


__all__ = ["jira_issue_fields", "priority_for_rank", "theme_label"]
