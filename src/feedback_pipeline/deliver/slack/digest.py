"""The nightly Slack digest as Block Kit, within Slack's limits.

One digest is two messages. The main message: a header with the date and the counts (each
defined in ``queries.digest_counts``), then the sections in the order a community manager acts
(``sections.py``: threads to answer in the top themes, rising and new, shipped or "nothing
shipped", praise to thank), then a link to the report (``report_url``) and how the ranking
works. The thread reply holds a few quotes per shown theme (``quotes_per_theme``) with their
sources. The same dict is written to the dry-run outbox and posted by
``feedback_pipeline.deliver.slack``.

Everything here is pure (a ranking, counts and a ``DigestContext`` in, a dict out), so the
rendering is testable without a warehouse; ``queries.build_digest`` reads the context and the
counts from the warehouse, then renders. Block Kit limits and escaping: ``blockkit.py``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime

from feedback_pipeline.deliver.slack.blockkit import (
    HEADER_MAX,
    MAX_BLOCKS,
    MAX_TEXT_CHARS,
    block_chars,
    check_blocks,
    clip,
    count_of,
    link,
    pack,
    plain,
    section,
)
from feedback_pipeline.deliver.slack.blockkit import context as context_block
from feedback_pipeline.deliver.slack.config import SlackConfig
from feedback_pipeline.deliver.slack.pulse_block import pulse_blocks
from feedback_pipeline.deliver.slack.sections import (
    DigestContext,
    answer_blocks,
    details_entry,
    praise_blocks,
    rising_blocks,
    rising_themes,
    shipped_blocks,
)

FALLBACK_MAX = 3_000

RANKING_NOTE = (
    "Ranked by volume, distinct customers, growth, recency, votes, support share, coherence "
    "and customer value (ARR at stake; weights in the config); themes need 3+ distinct "
    "customers. Every score's breakdown: `feedback-pipeline themes`. Quotes and sources are "
    "in the thread."
)


def digest_key(as_of: datetime) -> str:
    return f"slack:digest:{as_of:%Y-%m-%d}"


def header_counts(totals: dict, ctx: DigestContext, config: SlackConfig) -> str:
    """The header's counts in words: each count says what it counts (``digest_counts``)."""
    n_themes, items = totals.get("themes", 0), totals.get("items", 0)
    parts = [f"*{n_themes:,}* {'theme' if n_themes == 1 else 'themes'} holding "
             f"*{items:,}* {'item' if items == 1 else 'items'}"]
    new = totals.get("new_items")
    if new is not None:
        since = ctx.since if ctx.previous_date else "in this first digest"
        words = f"*{new:,}* new {'item' if new == 1 else 'items'} {since}"
        if totals.get("new_in_themes") is not None:
            words += f", {totals['new_in_themes']:,} of them in these themes"
        if totals.get("new_dropped"):
            words += (f" ({count_of(totals['new_dropped'], 'more item')} dropped by the "
                      "cleaner: bots, empty or too short)")
        parts.append(words)
    if ctx.new_theme_ids:
        parts.append(count_of(len(ctx.new_theme_ids), "new theme"))
    if config.sources or config.kinds:
        only = [*(f"{k} items" for k in config.kinds), *config.sources]
        parts.append(f"only {plain(', '.join(only), 200)}")
    return " · ".join(parts)


def _footer(config: SlackConfig) -> list[dict]:
    texts = [f"{link(config.report_url, 'Open the full report', trusted=True)}"
             ] if config.report_url else []
    return [{"type": "divider"}, context_block(*texts, RANKING_NOTE)]


def slack_digest(ranking: list[dict], *, as_of: datetime, totals: dict,
                 config: SlackConfig | None = None, context: DigestContext | None = None,
                 top_n: int | None = None) -> dict:
    """Build the digest: ``{key, date, quiet, text, blocks, thread}``.

    ``text``/``blocks`` are the main ``chat.postMessage`` body, ``thread`` the reply (or None).
    A night with no new items, no new theme and nothing shipped is ``quiet``: one short line.
    ``totals``: ``queries.digest_counts``.
    """
    config = config or SlackConfig()
    if top_n is not None:
        config = config.model_copy(update={"top_n": top_n})
    ctx = context or DigestContext()
    date = f"{as_of:%Y-%m-%d}"
    base = {"key": digest_key(as_of), "date": date}
    items, n_themes = totals.get("items", 0), totals.get("themes", len(ranking))
    if totals.get("new_items") == 0 and not ctx.new_theme_ids and not ctx.shipped:
        line = (f"Customer feedback {date}: nothing new {ctx.since} "
                f"({items:,} items in {n_themes:,} themes, ranking unchanged).")
        return {**base, "quiet": True, "text": line, "blocks": [section(line)], "thread": None}

    header = clip(f"Customer feedback digest — {date}", HEADER_MAX)
    head = [{"type": "header", "text": {"type": "plain_text", "text": header, "emoji": True}},
            context_block(header_counts(totals, ctx, config))]
    shipped_ids = {s["theme_id"] for s in ctx.shipped}
    listed = [t for t in ranking if t["theme_id"] not in shipped_ids]
    top, rest = listed[: config.top_n], listed[config.top_n:]
    rising = rising_themes(rest, ctx, config)
    by_id = {t["theme_id"]: t for t in ranking}
    after = (rising_blocks(rising) + shipped_blocks(ctx) + praise_blocks(ctx.praise, by_id)
             + pulse_blocks(ctx.pulse))
    tail = _footer(config)
    fixed = head + after + tail
    top_blocks = answer_blocks(top, ctx, config, max_blocks=MAX_BLOCKS - len(fixed),
                               max_chars=MAX_TEXT_CHARS - sum(block_chars(b) for b in fixed))
    blocks = head + top_blocks + after + tail
    fallback = f"{header}: " + "; ".join(
        f"{t['rank']}. {plain(t['title'], 80)} ({t['item_count']})" for t in top)
    shown = top + rising
    thread = _details(shown, config, date) if shown and config.quotes_per_theme else None
    return {**base, "quiet": False, "text": clip(fallback, FALLBACK_MAX), "blocks": blocks,
            "thread": thread}


def _details(themes: list[dict], config: SlackConfig, date: str) -> dict:
    def entries() -> Iterator[str]:
        for t in themes:
            yield details_entry(t, config)

    blocks = [context_block(f"Details for the {date} digest: what customers say, with sources "
                            f"(personal data redacted; at most {config.quotes_per_theme} quotes a "
                            "theme).")]
    blocks += pack("", entries(), max_blocks=MAX_BLOCKS - 1, total=len(themes),
                   max_chars=MAX_TEXT_CHARS - block_chars(blocks[0]) - 200,
                   more="…and {n} more themes: `feedback-pipeline themes --format json`")
    return {"text": f"Quotes and sources for the {date} feedback digest", "blocks": blocks}


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


__all__ = ["DigestContext", "block_chars", "check_blocks", "digest_key", "digest_preview",
           "header_counts", "slack_digest"]
