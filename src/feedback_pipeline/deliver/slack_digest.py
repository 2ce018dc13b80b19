"""The nightly Slack digest as Block Kit, within Slack's limits."""

from __future__ import annotations

from datetime import datetime

from ..redact import redact

MAX_BLOCKS = 50
SECTION_MAX = 3_000
HEADER_MAX = 150


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _trend(theme: dict) -> str:
    g = theme["growth"]
    return ":arrow_upper_right:" if g >= 1.5 else ":arrow_lower_right:" if g <= 0.67 else ":arrow_right:"


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_digest(ranking: list[dict], *, as_of: datetime, top_n: int, totals: dict) -> dict:
    """Build the ``chat.postMessage`` body (text fallback + blocks) for the top themes."""
    date = f"{as_of:%Y-%m-%d}"
    header = _clip(f"Customer feedback digest — {date}", HEADER_MAX)
    blocks: list[dict] = [
        {"type": "header", "text": {"type": "plain_text", "text": header}},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": _clip(
            f"{totals.get('items', 0)} items in {totals.get('themes', 0)} themes · "
            f"{totals.get('new_items', 0)} new since last run", SECTION_MAX)}]},
    ]
    if not ranking:
        blocks.append({"type": "section", "text": {"type": "mrkdwn",
                                                   "text": "Nothing new tonight."}})
    for theme in ranking[:top_n]:
        if len(blocks) >= MAX_BLOCKS - 2:
            break
        title = _escape(redact(theme["title"]))
        keywords = ", ".join(theme["keywords"][:5]) if theme["keywords"] else ""
        text = (
            f"*{theme['rank']}. {title}* {_trend(theme)}\n"
            f"{theme['item_count']} reports · {theme['distinct_authors']} customers · "
            f"{round(100 * theme['support_share'])}% support · score {theme['score']:.2f}"
            + (f"\n_{_escape(keywords)}_" if keywords else "")
        )
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": _clip(text, SECTION_MAX)}})
    blocks.append({"type": "divider"})
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": (
        "Ranked by volume, distinct customers, growth, recency, votes and support share; "
        "every score's breakdown is in `feedback-pipeline themes`.")}]})
    fallback = f"{header}: " + "; ".join(
        f"{t['rank']}. {redact(t['title'])} ({t['item_count']})" for t in ranking[:top_n]
    )
    return {"text": _clip(fallback, 3_000), "blocks": blocks[:MAX_BLOCKS]}


__all__ = ["slack_digest"]
