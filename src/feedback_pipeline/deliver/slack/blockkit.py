"""Block Kit building blocks within Slack's limits, shared by every part of the digest.

Limits (Slack rejects or truncates beyond them): <= 50 blocks a message, section text <= 3,000
characters, header <= 150, context <= 10 elements, and <= ~12,000 characters of block text a
message (``msg_blocks_too_long``). Long content is packed, clipped at line boundaries and ends
with "...and N more", never rejected. Every customer string goes through ``markup.slack_text``
(redacted, escaped) and every customer link through ``redact.safe_link_url``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from feedback_pipeline.markup import slack_text
from feedback_pipeline.redact import safe_link_url

MAX_BLOCKS = 50
SECTION_MAX = 3_000
HEADER_MAX = 150
CONTEXT_MAX_ELEMENTS = 10
MAX_TEXT_CHARS = 12_000


def clip(text: str, limit: int) -> str:
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


def plain(text: object, limit: int) -> str:
    """Redacted, one line, escaped for mrkdwn, then clipped (``markup.slack_text``)."""
    return slack_text(text, limit)


def link(url: str | None, text: str, *, trusted: bool = False) -> str:
    """A mrkdwn link; customer URLs lose a query with personal data, or the link (redact.py)."""
    label = text.replace("|", "/")  # ``text`` is escaped mrkdwn already
    if not url or not re.match(r"https?://\S+$", url) or len(url) > 500:
        return label  # no link rather than a broken one
    if not trusted and not (url := safe_link_url(url)):
        return label  # personal data in the URL beyond its query: never leak it
    return f"<{url.replace('|', '%7C').replace('>', '%3E')}|{label}>"


def count_of(count: int, noun: str) -> str:
    return f"{count:,} {noun}{'' if count == 1 else 's'}"


def section(text: str) -> dict:
    return {"type": "section", "text": {"type": "mrkdwn", "text": clip(text, SECTION_MAX)}}


def context(*texts: str) -> dict:
    return {"type": "context", "elements": [
        {"type": "mrkdwn", "text": clip(t, SECTION_MAX)} for t in texts[:CONTEXT_MAX_ELEMENTS]]}


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


def pack(heading: str, lines: Iterable[str], *, max_blocks: int, max_chars: int,
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
            blocks.append(section(current))
            used += len(current)
            current = line
            continue
        current = f"{current}\n{more.format(n=total - i)}" if current else more.format(
            n=total - i)
        break
    if current:
        blocks.append(section(current))
    return blocks


__all__ = ["CONTEXT_MAX_ELEMENTS", "HEADER_MAX", "MAX_BLOCKS", "MAX_TEXT_CHARS", "SECTION_MAX",
           "block_chars", "check_blocks", "clip", "context", "count_of", "link", "pack", "plain",
           "section"]
