"""The description of a theme's Jira issue, in the order a PM reads it (wiki markup).

1. two lines: what customers ask; who (customers, accounts, plan mix), since when and how fast
   (the trend in ``rank.trends.trend_phrase``'s one wording), the accounts affected and ARR at
   stake with the top accounts (``value.py``), then why this priority and type;
2. three quotes, taking turns between community posts and support tickets;
3. activity by week, sources and languages, the link to all reports;
4. related and possibly-duplicate themes with their issue keys;
5. the source threads;
6. last and collapsed, the score breakdown (what only we show, moved, not removed).

Every customer-provided string goes through ``markup.jira_text`` (escaped, capped, redacted).
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import TYPE_CHECKING

from feedback_pipeline.deliver.jira.config import JiraConfig
from feedback_pipeline.deliver.jira.triage import Decision
from feedback_pipeline.deliver.jira.value import value_lines
from feedback_pipeline.markup import jira_text
from feedback_pipeline.rank.trends import trend_phrase
from feedback_pipeline.redact import safe_link_url

if TYPE_CHECKING:
    from feedback_pipeline.deliver.jira.render import ThemeEvidence

QUOTES_SHOWN = 3
KIND_WORDS = {"community_post": "community post", "support_ticket": "support ticket"}
SCORE_TITLE = "Why this ranks: score breakdown"


def safe_url(url: str | None) -> str | None:
    """A source link fit for wiki markup: personal data in the query drops the query, in the
    rest of the URL the link (see ``redact.safe_link_url``, shared with the Slack digest)."""
    url = safe_link_url(url)
    # "!" would open an image inside the link; percent-encoded it means the same URL.
    url = url.replace("!", "%21") if url else None
    return url if url and re.match(r"https?://[^\s|\[\]{}\\]+$", url) else None


def day(value: datetime) -> str:
    """6 Nov 2026 (no leading zero, the same on every platform)."""
    return f"{value.day} {value:%b %Y}"


def pick_quotes(quotes: list[dict], n: int = QUOTES_SHOWN) -> list[dict]:
    """``n`` quotes taking turns between kinds (in order of first appearance), skipping one that
    repeats an earlier quote's opening words."""
    queues: dict[object, list[dict]] = {}
    for q in quotes:
        queues.setdefault(q.get("kind"), []).append(q)
    chosen: list[dict] = []
    seen: set[str] = set()
    while len(chosen) < n and any(queues.values()):
        for queue in queues.values():
            while queue and len(chosen) < n:
                q = queue.pop(0)
                opening = " ".join(re.findall(r"\w+", str(q.get("text") or "").lower())[:8])
                if opening in seen:
                    continue
                seen.add(opening)
                chosen.append(q)
                break
    return chosen


def who_line(theme: dict, ev: ThemeEvidence) -> str:
    """Who asks, since when and how fast, in one wording for every issue."""
    who = f"{theme['distinct_authors']:,} customers"
    if ev.accounts and ev.accounts < theme["distinct_authors"]:  # else it says nothing more
        who += f" in {ev.accounts:,} account{'s' if ev.accounts != 1 else ''}"
    known = sum(ev.plans.values())
    if known:
        shown = list(ev.plans.items())[:4]
        mix = ", ".join(f"{jira_text(plan, 40)} {round(100 * n / known)}%" for plan, n in shown)
        rest = known - sum(n for _, n in shown)
        mix += f", other {round(100 * rest / known)}%" if rest else ""
        who += f" (plans: {mix})"
    first = theme.get("first_seen")
    since = f"first seen {day(first)}" if first else "first seen unknown"
    return (f"*Who, since when:* {who} · {theme['item_count']:,} reports · {since} · "
            f"{trend_phrase(theme)}")


def triage_line(priority: Decision | None, issue_type: Decision) -> str:
    parts = []
    if priority is not None and priority.value:
        parts.append(f"Priority *{jira_text(priority.value, 40)}*: "
                     f"{jira_text(priority.reason, 300)}.")
    parts.append(f"Type *{jira_text(issue_type.value, 40)}*: {jira_text(issue_type.reason, 200)}.")
    return "_" + " ".join(parts) + "_"


def quote_lines(theme: dict, ev: ThemeEvidence) -> list[str]:
    stored = theme["quotes"]
    quotes = ev.quotes if ev.quotes is not None else pick_quotes(
        json.loads(stored) if isinstance(stored, str) else stored or [])
    lines = []
    for q in quotes:
        kind = KIND_WORDS.get(q.get("kind") or "", "")
        url = safe_url(q.get("url"))
        where = (f"[source|{url}]" if url else
                 f"{jira_text(q.get('source'), 60)} #{jira_text(q.get('external_id'), 80)}")
        lines.append(f"{{quote}}{jira_text(q['text'], 500)}{{quote}} "
                     f"({kind + ': ' if kind else ''}{where})")
    return lines or ["_no quotes_"]


def activity_lines(theme: dict, ev: ThemeEvidence, config: JiraConfig) -> list[str]:
    lines = ["h2. Activity by week", "||week of||reports||"]
    lines += [f"|{week:%Y-%m-%d}|{n}|" for week, n in ev.weekly] or ["|_none_|0|"]
    sources = ", ".join(f"{jira_text(s, 60)} ({n})" for s, n in ev.sources.items())
    langs = ", ".join(f"{jira_text(s, 20)} ({n})" for s, n in ev.languages.items())
    lines += [f"* Sources: {sources or '_none_'}", f"* Languages: {langs or '_unknown_'}",
              f"* Last seen: {theme['last_seen']:%Y-%m-%d}" if theme.get("last_seen") else
              "* Last seen: _unknown_"]
    url = safe_url(config.evidence_url(theme["theme_id"]))
    if url:
        lines.append(f"* [All {theme['item_count']:,} reports|{url}]")
    return lines


def related_lines(ev: ThemeEvidence) -> list[str]:
    lines = ["h2. Related themes"]
    for r in ev.related:
        what = "possible duplicate" if r.duplicate else "related"
        ref = f"[{r.issue_key}]" if r.issue_key else f"theme {r.theme_id} (no issue)"
        lines.append(f"* {ref} {jira_text(r.title, 120)} — {what}, similarity "
                     f"{r.similarity:.2f}")
    if not ev.related:
        lines.append("_none above the similarity threshold_")
    return lines


def thread_lines(ev: ThemeEvidence) -> list[str]:
    lines = ["h2. Source threads"]
    for title, raw in ev.links:
        url, text = safe_url(raw), jira_text(title, 120)
        lines.append(f"* [{text or url}|{url}]" if url else f"* {text or '(link withheld)'}")
    if not ev.links:
        lines.append("_no linkable threads_")
    return lines


def breakdown_lines(breakdown: dict | str) -> list[str]:
    parts = json.loads(breakdown) if isinstance(breakdown, str) else breakdown
    return [
        f"|{name.replace('_', ' ')}|{c['value']}"
        f"{' — ' + jira_text(c['reason'], 200) if c.get('reason') else ''}|"
        f"{c['normalized']:.2f}|{c['weight']}|"
        f"{c['points']:.2f}|"
        for name, c in sorted(parts.items(), key=lambda kv: -kv[1]["points"])
    ]


def score_lines(theme: dict, config: JiraConfig) -> list[str]:
    """The score breakdown, collapsed: ``{expand}`` (or a ``{panel}``, see ``score_table``)."""
    keywords = ", ".join(jira_text(k, 80) for k in theme.get("keywords") or [])
    inner = [
        f"Rank *#{theme['rank']}*, score *{theme['score']:.2f}* "
        f"({theme['item_count']} reports from {theme['distinct_authors']} distinct customers; "
        f"{theme['support_count']} support tickets, {theme['community_count']} community posts).",
        "||component||value||normalised||weight||points||",
        *breakdown_lines(theme["breakdown"]),
        "",
        f"Votes/likes: {theme['votes']}. Keywords: {keywords or '_none_'}",
    ]
    if config.score_table == "expand":
        return [f"{{expand:{SCORE_TITLE}}}", *inner, "{expand}"]
    return [f"{{panel:title={SCORE_TITLE}}}", *inner, "{panel}"]


def issue_body(theme: dict, ev: ThemeEvidence, config: JiraConfig, *,
               priority: Decision | None, issue_type: Decision) -> str:
    """The evidence section of the issue (everything ours, below the refresh marker)."""
    lines = [
        f"*What customers ask:* {jira_text(theme['title'], 200) or '_untitled_'}",
        who_line(theme, ev),
        *value_lines(ev.value),
        triage_line(priority, issue_type),
        "",
        "h2. What customers say",
        *quote_lines(theme, ev),
        "",
        *activity_lines(theme, ev, config),
        "",
        *related_lines(ev),
        "",
        *thread_lines(ev),
        "",
        f"_Maintained by feedback-pipeline (theme {theme['theme_id']}): from \"What customers "
        "ask\" down, this description is refreshed nightly; text you write above that line is "
        "kept._",
        "",
        *score_lines(theme, config),
    ]
    return "\n".join(lines)


__all__ = ["KIND_WORDS", "QUOTES_SHOWN", "SCORE_TITLE", "breakdown_lines", "day", "issue_body",
           "pick_quotes", "safe_url", "who_line"]
