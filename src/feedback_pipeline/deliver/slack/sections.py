"""The digest's sections, in the order a community manager acts on them.

1. threads to answer: the top themes, each with its community threads (questions first);
2. rising and new: themes below the top whose trend is rising or new, never one shown above;
3. shipped: themes whose Jira issue reached Done since the last digest, with the threads to
   tell, or one line saying nothing shipped;
4. praise to thank: items typed praise, with links.

Every trend is worded by :func:`feedback_pipeline.rank.trends.trend_phrase` (the report, Jira and
the CLI use it too). Each function returns Block Kit blocks within the budget it is given.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from feedback_pipeline.deliver.slack.blockkit import (
    SECTION_MAX,
    clip,
    count_of,
    link,
    pack,
    plain,
    section,
)
from feedback_pipeline.deliver.slack.config import SlackConfig
from feedback_pipeline.deliver.slack.value import value_parts
from feedback_pipeline.rank.trends import trend_phrase

TITLE_MAX = 150
QUOTE_MAX = 300
PRAISE_MAX = 200
# Character budgets of the sections after the top themes, so the top always keeps >= ~5,000.
RISING_MAX_CHARS, SHIPPED_MAX_CHARS, PRAISE_MAX_CHARS = 1_500, 3_000, 1_500


@dataclass
class DigestContext:
    """What the digest needs from the warehouse besides the ranking (``queries.digest_context``)."""

    new_theme_ids: list[int] = field(default_factory=list)
    # {theme_id, title, jira_key, jira_url, shipped_at, threads: [{url, title}]}
    shipped: list[dict] = field(default_factory=list)
    jira: dict[int, tuple[str, str | None]] = field(default_factory=dict)  # id -> (key, url)
    previous_date: str | None = None
    # theme id -> its community threads to answer [{url, title, item_type}]
    threads: dict[int, list[dict]] = field(default_factory=dict)
    # items typed praise [{theme_id, source, external_id, url, text}]
    praise: list[dict] = field(default_factory=list)
    # (last night, this week) community pulse (``pulse_block.digest_pulse``), None: not shown
    pulse: tuple | None = None

    @property
    def since(self) -> str:
        return f"since the {self.previous_date} digest" if self.previous_date else \
            "since the last digest"


def quotes_of(theme: dict) -> list[dict]:
    quotes = theme.get("quotes")
    return (json.loads(quotes) if isinstance(quotes, str) else quotes) or []


def _thread_links(threads: list[dict]) -> str:
    return ", ".join(link(th["url"], plain(th.get("title") or th["url"], 80))
                     + (" (no staff reply yet)" if th.get("answered") is False else "")
                     for th in threads)


def _score_line(theme: dict) -> str:
    breakdown = theme.get("breakdown") or {}
    if isinstance(breakdown, str):
        breakdown = json.loads(breakdown)
    parts = sorted(breakdown.items(), key=lambda kv: -kv[1]["points"])
    why = " + ".join(f"{k} {c['points']:.2f}" for k, c in parts if c["points"] > 0)
    return f"score {theme['score']:.2f}" + (f" = {why}" if why else "")


def theme_line(theme: dict, ctx: DigestContext, config: SlackConfig) -> str:
    """A top theme: title and trend, counts and Jira issue, then its threads to answer."""
    jira = ctx.jira.get(theme["theme_id"])
    parts = [count_of(theme["item_count"], "report"),
             count_of(theme["distinct_authors"], "customer")]
    if theme.get("support_count") is not None:
        parts.append(f"{count_of(theme['support_count'], 'ticket')} / "
                     f"{count_of(theme['community_count'], 'post')}")
    parts += value_parts(theme)
    if jira:
        parts.append(link(jira[1], jira[0], trusted=True))
    line = (f"*{theme['rank']}. {plain(theme['title'], TITLE_MAX)}* — {trend_phrase(theme)}\n"
            f"{' · '.join(parts)}")
    threads = ctx.threads.get(theme["theme_id"], [])
    if threads:  # none: the ticket/post counts above already say why; no filler line
        line += f"\nAnswer: {_thread_links(threads)}"
    if not config.condensed:
        line += f"\n{_score_line(theme)}"
    return clip(line, SECTION_MAX - 100)


def answer_blocks(top: list[dict], ctx: DigestContext, config: SlackConfig, *,
                  max_blocks: int, max_chars: int) -> list[dict]:
    if not top:  # every ranked theme shipped: the shipped section lists them
        return [] if ctx.shipped else [section("No theme has enough distinct customers yet.")]
    lines = (theme_line(t, ctx, config) for t in top)
    heading = (f"*:speech_balloon: Threads to answer — the top {len(top)} themes*"
               if config.threads_per_theme else f"*:trophy: Top {len(top)} themes*")
    return pack(heading, lines, max_blocks=max_blocks, max_chars=max_chars, total=len(top),
                more="…and {n} more: `feedback-pipeline themes`")


def rising_themes(rest: list[dict], ctx: DigestContext, config: SlackConfig) -> list[dict]:
    """Themes not shown above whose trend is rising, then new ones, in rank order."""
    rising = [t for t in rest if t.get("trend") == "rising"][: config.rising_n]
    chosen = {t["theme_id"] for t in rising}
    new = [t for t in rest if t["theme_id"] not in chosen
           and (t.get("trend") == "new" or t["theme_id"] in ctx.new_theme_ids)][: config.new_n]
    return sorted(rising + new, key=lambda t: t["rank"])


def rising_blocks(themes: list[dict]) -> list[dict]:
    if not themes:
        return []
    lines = [f"• {plain(t['title'], TITLE_MAX)} (#{t['rank']}, "
             f"{count_of(t['item_count'], 'report')}) — {trend_phrase(t)}" for t in themes]
    return pack("*:chart_with_upwards_trend: Rising and new*", lines, max_blocks=1,
                max_chars=RISING_MAX_CHARS)


def shipped_blocks(ctx: DigestContext) -> list[dict]:
    if not ctx.shipped:
        return [section(f":white_check_mark: Nothing shipped {ctx.since}.")]
    lines = []
    for s in ctx.shipped:
        jira = (link(s.get("jira_url"), s["jira_key"], trusted=True) if s.get("jira_key")
                else "its Jira issue")
        line = f"• *{plain(s['title'], TITLE_MAX)}* — {jira} is Done."
        if s.get("threads"):
            line += f" Reply to: {_thread_links(s['threads'])}"
        lines.append(clip(line, SECTION_MAX - 100))
    return pack("*:white_check_mark: Shipped — tell the people who asked*", lines,
                max_blocks=2, max_chars=SHIPPED_MAX_CHARS)


def praise_blocks(praise: list[dict], by_id: dict[int, dict]) -> list[dict]:
    if not praise:
        return []
    lines = []
    for p in praise:
        where = link(p.get("url"), f"{plain(p['source'], 40)} #{plain(p['external_id'], 80)}")
        theme = by_id.get(p["theme_id"])
        about = f" (on {plain(theme['title'], 60)})" if theme else ""
        lines.append(f"• “{plain(p.get('text') or '', PRAISE_MAX)}” — {where}{about}")
    return pack("*:raised_hands: Praise to thank*", lines, max_blocks=1,
                max_chars=PRAISE_MAX_CHARS)


def details_entry(theme: dict, config: SlackConfig) -> str:
    """A theme in the thread reply: at most ``quotes_per_theme`` quotes, each with its source."""
    lines = [f"*{theme['rank']}. {plain(theme['title'], TITLE_MAX)}*"]
    for q in quotes_of(theme)[: config.quotes_per_theme]:
        where = f"{plain(q.get('source'), 40)} #{plain(q.get('external_id'), 80)}".strip()
        lines.append(f"> {plain(q.get('text', ''), QUOTE_MAX)} — {link(q.get('url'), where)}")
    return clip("\n".join(lines), SECTION_MAX - 100)


__all__ = ["DigestContext", "answer_blocks", "details_entry", "praise_blocks", "quotes_of",
           "rising_blocks", "rising_themes", "shipped_blocks", "theme_line"]
