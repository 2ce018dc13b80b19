"""The nightly Slack digest as Block Kit, within Slack's limits.

One digest is two messages: the main message (header with date and totals; top themes, new,
rising, shipped with the community threads to answer; how the ranking works) and a thread reply
with the details (redacted quotes and their sources). The same dict is written to the dry-run
outbox and posted by ``feedback_pipeline.deliver.slack``.

Limits enforced here (Slack rejects or truncates beyond them): ≤ 50 blocks a message, section
text ≤ 3,000 characters, header ≤ 150, context ≤ 10 elements, and ≤ ~12,000 characters of block
text a message (``msg_blocks_too_long``). Long content is packed, clipped at line boundaries and
ends with "…and N more", never rejected.

Everything here is pure (a ranking and a ``DigestContext`` in, a dict out), so the rendering is
testable without a warehouse; the queries that fill the context and track shipped themes live in
``feedback_pipeline.deliver.slack.queries``, whose ``build_digest`` joins the two: it gathers the
context through that module, then renders.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from feedback_pipeline.deliver.slack.config import SlackConfig
from feedback_pipeline.markup import slack_text
from feedback_pipeline.redact import safe_link_url

if TYPE_CHECKING:
    pass

MAX_BLOCKS = 50
SECTION_MAX = 3_000
HEADER_MAX = 150
CONTEXT_MAX_ELEMENTS = 10
MAX_TEXT_CHARS = 12_000
FALLBACK_MAX = 3_000
TITLE_MAX = 150
QUOTE_MAX = 300
RISING_MIN_GROWTH = 1.5
# Character budgets of the sections after "top themes", so the top always keeps ≥ ~4,500.
NEW_MAX_CHARS, RISING_MAX_CHARS, SHIPPED_MAX_CHARS = 1_500, 1_500, 4_000

RANKING_NOTE = (
    "Ranked by volume, distinct customers, growth, recency, votes and support share "
    "(weights in the config); themes need 3+ distinct customers. Every score's breakdown: "
    "`feedback-pipeline themes`. Quotes and sources are in the thread."
)


@dataclass
class DigestContext:
    """What the digest needs from the warehouse besides the ranking (``queries.digest_context``)."""

    new_theme_ids: list[int] = field(default_factory=list)
    # {theme_id, title, jira_key, jira_url, shipped_at, threads: [{url, title}]}
    shipped: list[dict] = field(default_factory=list)
    jira: dict[int, tuple[str, str | None]] = field(default_factory=dict)  # id -> (key, url)
    previous_date: str | None = None


def digest_key(as_of: datetime) -> str:
    return f"slack:digest:{as_of:%Y-%m-%d}"


def _clip(text: str, limit: int) -> str:
    """Cut composed mrkdwn, never inside an entity (``&amp;``) or a link (``<url|label>``)."""
    if len(text) <= limit:
        return text
    head = text[: limit - 1]
    amp, lt = head.rfind("&"), head.rfind("<")
    if amp > head.rfind(";"):
        head = head[:amp]
    if lt > head.rfind(">"):
        head = head[:lt]
    return head.rstrip() + "…"


def _plain(text: object, limit: int) -> str:
    """Redacted, one line, escaped for mrkdwn, then clipped (``markup.slack_text``)."""
    return slack_text(text, limit)


def _link(url: str | None, text: str, *, trusted: bool = False) -> str:
    """A mrkdwn link; customer URLs lose a query with personal data, or the link (redact.py)."""
    label = text.replace("|", "/")  # ``text`` is escaped mrkdwn already
    if not url or not re.match(r"https?://\S+$", url) or len(url) > 500:
        return label  # no link rather than a broken one
    if not trusted and not (url := safe_link_url(url)):
        return label  # personal data in the URL beyond its query: never leak it
    return f"<{url.replace('|', '%7C').replace('>', '%3E')}|{label}>"


def _n(count: int, noun: str) -> str:
    return f"{count:,} {noun}{'' if count == 1 else 's'}"


def _trend(theme: dict) -> str:
    g = theme["growth"]
    if g >= 1.5:
        return ":arrow_upper_right:"
    return ":arrow_lower_right:" if g <= 0.67 else ":arrow_right:"


def _section(text: str) -> dict:
    return {"type": "section", "text": {"type": "mrkdwn", "text": _clip(text, SECTION_MAX)}}


def _context(*texts: str) -> dict:
    return {"type": "context", "elements": [
        {"type": "mrkdwn", "text": _clip(t, SECTION_MAX)} for t in texts[:CONTEXT_MAX_ELEMENTS]]}


def block_chars(block: dict) -> int:
    """Characters of text a block carries (what counts towards ``msg_blocks_too_long``)."""
    n = len(block.get("text", {}).get("text", "")) if isinstance(block.get("text"), dict) else 0
    n += sum(len(f.get("text", "")) for f in block.get("fields", []))
    n += sum(len(e.get("text", "")) for e in block.get("elements", []) if isinstance(e, dict))
    return n


def check_blocks(blocks: list[dict]) -> list[str]:
    """Every Block Kit limit the blocks break (empty when Slack will accept them)."""
    problems = []
    if len(blocks) > MAX_BLOCKS:
        problems.append(f"{len(blocks)} blocks > {MAX_BLOCKS}")
    for i, b in enumerate(blocks):
        text = b.get("text", {}).get("text", "") if isinstance(b.get("text"), dict) else ""
        limit = HEADER_MAX if b["type"] == "header" else SECTION_MAX
        if len(text) > limit:
            problems.append(f"block {i} ({b['type']}) text has {len(text)} chars > {limit}")
        if len(b.get("elements", [])) > CONTEXT_MAX_ELEMENTS:
            problems.append(f"block {i} has {len(b['elements'])} elements > {CONTEXT_MAX_ELEMENTS}")
    total = sum(block_chars(b) for b in blocks)
    if total > MAX_TEXT_CHARS:
        problems.append(f"{total} chars of block text > {MAX_TEXT_CHARS}")
    return problems


def _pack(heading: str, lines: Iterable[str], *, max_blocks: int, max_chars: int,
          total: int | None = None, more: str = "…and {n} more") -> list[dict]:
    """Lines under a heading, as few section blocks as fit; overflow ends in '…and N more'.

    ``lines`` may be lazy (with ``total`` given): lines past the budget are never rendered.
    """
    if total is None:
        lines = list(lines)
        total = len(lines)
    blocks: list[dict] = []
    current = heading
    used = 0
    reserve = len(more) + 10
    for i, line in enumerate(lines):
        candidate = f"{current}\n{line}" if current else line
        fits_section = len(candidate) <= SECTION_MAX - reserve
        if fits_section and used + len(candidate) <= max_chars - reserve:
            current = candidate
            continue
        # Start a new section when this one is full and budget remains for it.
        if current and len(blocks) + 2 <= max_blocks and \
                used + len(current) + len(line) <= max_chars - reserve and len(line) < SECTION_MAX:
            blocks.append(_section(current))
            used += len(current)
            current = line
            continue
        current = f"{current}\n{more.format(n=total - i)}" if current else more.format(
            n=total - i)
        break
    if current:
        blocks.append(_section(current))
    return blocks


def _theme_line(theme: dict, ctx: DigestContext, condensed: bool) -> str:
    title = _plain(theme["title"], TITLE_MAX)
    jira = ctx.jira.get(theme["theme_id"])
    parts = [f"{theme['item_count']:,} reports", f"{theme['distinct_authors']:,} customers"]
    if theme.get("support_count") is not None:
        parts.append(f"{_n(theme['support_count'], 'ticket')} / "
                     f"{_n(theme['community_count'], 'post')}")
    if jira:
        parts.append(_link(jira[1], jira[0], trusted=True))
    line = f"*{theme['rank']}. {title}* {_trend(theme)}\n{' · '.join(parts)}"
    keywords = ", ".join(_plain(k, 60) for k in (theme.get("keywords") or [])[:5])
    if keywords:
        line += f"\n_{_clip(keywords, 200)}_"
    if not condensed:
        breakdown = theme.get("breakdown") or {}
        if isinstance(breakdown, str):
            breakdown = json.loads(breakdown)
        parts_by_points = sorted(breakdown.items(), key=lambda kv: -kv[1]["points"])
        why = " + ".join(f"{k} {c['points']:.2f}" for k, c in parts_by_points if c["points"] > 0)
        line += f"\nscore {theme['score']:.2f}" + (f" = {why}" if why else "")
    return line


def _section_blocks(ranking: list[dict], ctx: DigestContext, config: SlackConfig) -> list[dict]:
    by_id = {t["theme_id"]: t for t in ranking}
    out: list[dict] = []
    new = sorted((by_id[i] for i in ctx.new_theme_ids if i in by_id),
                 key=lambda t: t["rank"])[: config.new_n]
    if new:
        lines = [f"• {_plain(t['title'], TITLE_MAX)} (#{t['rank']}, {t['item_count']} reports, "
                 f"{t['distinct_authors']} customers)" for t in new]
        out += _pack("*:new: New themes*", lines, max_blocks=1, max_chars=NEW_MAX_CHARS)
    rising = sorted((t for t in ranking if t["growth"] >= RISING_MIN_GROWTH
                     and t.get("recent_count", 0) > t.get("previous_count", 0)),
                    key=lambda t: (-t["growth"], t["rank"]))[: config.rising_n]
    if rising:
        lines = [f"• {_plain(t['title'], TITLE_MAX)} :arrow_upper_right: {t['recent_count']} "
                 f"recently vs {t['previous_count']} before (x{t['growth']:.1f}, #{t['rank']})"
                 for t in rising]
        out += _pack("*:chart_with_upwards_trend: Rising*", lines, max_blocks=1,
                     max_chars=RISING_MAX_CHARS)
    shipped = ctx.shipped[: config.shipped_n]
    if shipped:
        lines = []
        for s in shipped:
            jira = (_link(s.get("jira_url"), s["jira_key"], trusted=True) if s.get("jira_key")
                    else "its Jira issue")
            line = f"• *{_plain(s['title'], TITLE_MAX)}* — {jira} is Done."
            threads = s.get("threads", [])[: config.threads_per_theme]
            if threads:
                line += " Reply to: " + ", ".join(
                    _link(th["url"], _plain(th.get("title") or th["url"], 80)) for th in threads)
            lines.append(_clip(line, SECTION_MAX - 100))
        out += _pack("*:white_check_mark: Shipped — tell the people who asked*", lines,
                     max_blocks=2, max_chars=SHIPPED_MAX_CHARS)
    return out


def _details(ranking: list[dict], config: SlackConfig, date: str) -> dict:
    def entries() -> Iterator[str]:
        for t in top:
            yield _details_entry(t, config)

    top = ranking[: config.top_n]
    blocks = [_context(f"Details for the {date} digest: what customers say, with sources "
                       "(personal data redacted).")]
    blocks += _pack("", entries(), max_blocks=MAX_BLOCKS - 1, total=len(top),
                    max_chars=MAX_TEXT_CHARS - block_chars(blocks[0]) - 200,
                    more="…and {n} more themes: `feedback-pipeline themes --format json`")
    return {"text": f"Quotes and sources for the {date} feedback digest", "blocks": blocks}


def _details_entry(t: dict, config: SlackConfig) -> str:
    quotes = json.loads(t["quotes"]) if isinstance(t.get("quotes"), str) else t.get("quotes")
    lines = [f"*{t['rank']}. {_plain(t['title'], TITLE_MAX)}*"]
    for q in (quotes or [])[: config.quotes_per_theme]:
        where = f"{_plain(q.get('source'), 40)} #{_plain(q.get('external_id'), 80)}".strip()
        lines.append(f"> {_plain(q.get('text', ''), QUOTE_MAX)} — {_link(q.get('url'), where)}")
    return _clip("\n".join(lines), SECTION_MAX - 100)


def slack_digest(ranking: list[dict], *, as_of: datetime, totals: dict,
                 config: SlackConfig | None = None, context: DigestContext | None = None,
                 top_n: int | None = None) -> dict:
    """Build the digest: ``{key, date, quiet, text, blocks, thread}``.

    ``text``/``blocks`` are the main ``chat.postMessage`` body, ``thread`` the reply (or None).
    A night with no new items, no new theme and nothing shipped is ``quiet``: one short line.
    """
    config = config or SlackConfig()
    if top_n is not None:
        config = config.model_copy(update={"top_n": top_n})
    ctx = context or DigestContext()
    date = f"{as_of:%Y-%m-%d}"
    base = {"key": digest_key(as_of), "date": date}
    items, n_themes = totals.get("items", 0), totals.get("themes", len(ranking))
    new_items = totals.get("new_items")
    if new_items == 0 and not ctx.new_theme_ids and not ctx.shipped:
        since = (f"since the {ctx.previous_date} digest" if ctx.previous_date
                 else "since the last run")
        line = (f"Customer feedback {date}: nothing new {since} "
                f"({items:,} items in {n_themes:,} themes, ranking unchanged).")
        return {**base, "quiet": True, "text": line, "blocks": [_section(line)], "thread": None}

    header = _clip(f"Customer feedback digest — {date}", HEADER_MAX)
    summary = [f"*{items:,}* items", f"*{n_themes:,}* themes"]
    if new_items is not None:
        summary.append(f"*{new_items:,}* new items since the last run")
    if ctx.new_theme_ids:
        summary.append(f"{len(ctx.new_theme_ids)} new themes")
    if ctx.shipped:
        summary.append(f"{len(ctx.shipped)} shipped")
    head = [{"type": "header", "text": {"type": "plain_text", "text": header, "emoji": True}},
            _context(" · ".join(summary))]
    tail = [{"type": "divider"}, _context(RANKING_NOTE)]
    middle = _section_blocks(ranking, ctx, config)
    fixed = head + middle + tail
    room_blocks = MAX_BLOCKS - len(fixed)
    room_chars = MAX_TEXT_CHARS - sum(block_chars(b) for b in fixed)
    top = ranking[: config.top_n]
    if top:
        lines = (_theme_line(t, ctx, config.condensed) for t in top)
        top_blocks = _pack(f"*:trophy: Top {len(top)} themes*", lines, max_blocks=room_blocks,
                           max_chars=room_chars, total=len(top),
                           more="…and {n} more: `feedback-pipeline themes`")
    else:
        top_blocks = [_section("No theme has enough distinct customers yet.")]
    blocks = head + top_blocks + middle + tail
    fallback = f"{header}: " + "; ".join(
        f"{t['rank']}. {_plain(t['title'], 80)} ({t['item_count']})"
        for t in top)
    thread = _details(ranking, config, date) if top and config.quotes_per_theme else None
    return {**base, "quiet": False, "text": _clip(fallback, FALLBACK_MAX), "blocks": blocks,
            "thread": thread}


def _mrkdwn_to_text(text: str) -> str:
    text = re.sub(r"<([^|>]+)\|([^>]+)>", r"\2 (\1)", text)
    text = re.sub(r"\*([^*\n]+)\*", r"\1", text)
    text = re.sub(r"(?<!\w)_([^_\n]+)_(?!\w)", r"\1", text)
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def digest_preview(digest: dict) -> str:
    """A plain-text rendering of a digest (main message, then the thread reply)."""
    def render(blocks: list[dict]) -> list[str]:
        out = []
        for b in blocks:
            if b["type"] == "header":
                out += [b["text"]["text"], "=" * min(len(b["text"]["text"]), 60)]
            elif b["type"] == "divider":
                out.append("-" * 40)
            elif b["type"] == "section":
                out += [_mrkdwn_to_text(b["text"]["text"]), ""]
            elif b["type"] == "context":
                out += [_mrkdwn_to_text(" | ".join(e["text"] for e in b["elements"])), ""]
        return out

    lines = render(digest["blocks"])
    if digest.get("thread"):
        lines += ["", "[thread reply]", *render(digest["thread"]["blocks"])]
    return "\n".join(lines).rstrip() + "\n"


__all__ = ["DigestContext", "block_chars", "check_blocks", "digest_key",
           "digest_preview", "slack_digest"]
