"""Cleaning: from what a person posted to the text worth embedding.

Pure functions, no I/O. ``clean_text`` strips HTML and markdown, quoted replies, e-mail headers and
signatures; ``drop_reason`` says why an item should not be clustered (bot, empty, too short), and
the item is then kept in the warehouse with that reason rather than deleted.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from html.parser import HTMLParser

from feedback_pipeline.clean.config import CleanConfig
from feedback_pipeline.records import PART_SEPARATOR

_BLOCK_TAGS = {"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "pre", "hr"}
_SKIP_TAGS = {"script", "style", "blockquote", "head", "template", "svg"}
_HTML_HINT = re.compile(r"</?[a-zA-Z][a-zA-Z0-9]*(\s[^<>]*)?/?>|<!--|&[a-zA-Z]+;|&#\d+;")
# What HTMLParser holds back at the end of the input: a comment, declaration, processing
# instruction or tag that is never closed. Browsers (HTML5 "EOF in comment/tag") show none of it;
# HTMLParser.close() would pass it on as text, markup and all.
_UNFINISHED_MARKUP = re.compile(r"<(?:!|\?|/?[a-zA-Z])")


class _TextExtractor(HTMLParser):
    """Keeps visible text; drops quoted replies (<blockquote>) and scripts."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skip_depth = 0
        self.asides: list[bool] = []  # per open <aside>: does it skip (a quote)?

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag in _SKIP_TAGS:
            self.skip_depth += 1
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n")
        elif tag == "aside":
            # Discourse marks quotes as <aside class="quote">; other asides are content.
            quote = any(k == "class" and v and "quote" in v for k, v in attrs)
            self.asides.append(quote)
            self.skip_depth += quote

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP_TAGS:
            self.skip_depth = max(0, self.skip_depth - 1)
        elif tag == "aside":
            if self.asides and self.asides.pop():
                self.skip_depth = max(0, self.skip_depth - 1)
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_startendtag(self, tag: str, attrs: list) -> None:
        if tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self.skip_depth:
            self.parts.append(data)


def strip_html(text: str) -> str:
    if not _HTML_HINT.search(text):
        return text
    parser = _TextExtractor()
    parser.feed(text)
    if _UNFINISHED_MARKUP.match(parser.rawdata):
        parser.rawdata = ""
    parser.close()
    # convert_charrefs decoded the entities: once only, "&amp;lt;b&amp;gt;" is the text "&lt;b&gt;".
    return "".join(parser.parts)


_MD_PATTERNS = [
    (re.compile(r"```.*?```", re.S), " "),  # code blocks say little about the request
    (re.compile(r"!\[[^\]]*\]\([^)]*\)"), " "),  # images
    (re.compile(r"\[([^\]]+)\]\([^)]*\)"), r"\1"),  # links: keep the text
    (re.compile(r"`([^`]*)`"), r"\1"),
    (re.compile(r"(\*\*|__)(.+?)\1"), r"\2"),
    (re.compile(r"(?<![\w*])\*(?!\s)(.+?)(?<!\s)\*(?![\w*])"), r"\1"),
    (re.compile(r"^\s{0,3}#{1,6}\s+", re.M), ""),
    (re.compile(r"^\s*[-*+]\s+", re.M), ""),
    (re.compile(r"^\s*\d+\.\s+", re.M), ""),
]

# Where a quoted earlier message starts; everything after it is dropped.
_REPLY_HEADERS = [
    re.compile(r"^\s*On .{3,200}wrote:\s*$", re.M | re.I),
    re.compile(r"^\s*Le .{3,200}a écrit\s*:\s*$", re.M | re.I),
    re.compile(r"^\s*Am .{3,200}schrieb .{0,100}:\s*$", re.M | re.I),
    re.compile(r"^\s*-{2,}\s*Original Message\s*-{2,}\s*$", re.M | re.I),
    re.compile(r"^\s*-{2,}\s*Forwarded message\s*-{2,}\s*$", re.M | re.I),
    re.compile(r"^\s*From: .+\n\s*(Sent|Date): .+$", re.M | re.I),
    re.compile(r"^_{10,}\s*$", re.M),
]
# Where a signature starts; everything after it is dropped.
_SIGNATURES = [
    re.compile(r"^-- ?$", re.M),
    re.compile(r"^\s*Sent from my (iPhone|iPad|Android|mobile|Samsung|Galaxy).*$", re.M | re.I),
    re.compile(r"^\s*Get Outlook for .*$", re.M | re.I),
    re.compile(
        r"^\s*(Best|Kind|Warm)?\s*(regards|wishes|cheers|thanks|thank you|sincerely)[,!.]?\s*$"
        r"(\n.{0,60}){0,4}\Z",
        re.M | re.I,
    ),
]
_QUOTED_LINE = re.compile(r"^\s*>.*$\n?", re.M)
# Connectors that append later messages to a body (Zendesk public comments) put this line between
# them, so quotes and signatures are cut per message instead of dropping every later one.
_PART_LINE = re.compile(r"^\s*-{5} reply -{5}\s*$", re.M)
_URL = re.compile(r"https?://\S+")
_WS = re.compile(r"[ \t\u00a0]+")
_BLANKS = re.compile(r"\n\s*\n+")
_WORD = re.compile(r"\w+", re.UNICODE)


def _cut_at_first(text: str, patterns: list[re.Pattern[str]]) -> str:
    cut = len(text)
    for pattern in patterns:
        m = pattern.search(text)
        if m and m.start() > 0:
            cut = min(cut, m.start())
    return text[:cut]


def _normalise_unicode(text: str) -> str:
    text = unicodedata.normalize("NFKC", text)
    # Control characters (but not newlines/tabs) come from bad exports and confuse tokenisers.
    return "".join(ch for ch in text if ch in "\n\t" or unicodedata.category(ch)[0] != "C")


def clean_body(body: str) -> str:
    """Visible, unquoted, unsigned text of a post or ticket body."""
    parts = _PART_LINE.split(body)
    if len(parts) > 1:
        return "\n".join(text for text in map(clean_body, parts) if text)
    # Again after strip_html: decoded entities (&#13;, &#x202e;) can be control characters.
    text = _normalise_unicode(strip_html(_normalise_unicode(body)))
    text = _cut_at_first(text, _REPLY_HEADERS)
    text = _QUOTED_LINE.sub("", text)
    text = _cut_at_first(text, _SIGNATURES)
    for pattern, repl in _MD_PATTERNS:
        text = pattern.sub(repl, text)
    text = _URL.sub(" ", text)
    text = _WS.sub(" ", text)
    text = _BLANKS.sub("\n", text)
    return text.strip()


def clean_text(title: str, body: str, *, max_chars: int = 2_000) -> str:
    """The text to embed: title and cleaned body, the title not repeated when the body starts with it."""
    title = _WS.sub(" ", _normalise_unicode(strip_html(_normalise_unicode(title or "")))).strip()
    body = clean_body(body or "")
    if title and body.lower().startswith(title.lower()):
        title = ""
    text = f"{title}\n{body}".strip() if title else body
    if len(text) > max_chars:
        cut = text.rfind(" ", 0, max_chars)
        text = text[: cut if cut > max_chars // 2 else max_chars]
    return text


def word_count(text: str) -> int:
    return len(_WORD.findall(text))


@dataclass(frozen=True)
class Cleaned:
    text: str
    drop_reason: str | None


def is_bot(author: str | None, config: CleanConfig) -> bool:
    # The clean stage passes no author (ingest decided while it had one): skip building the rule.
    return bool(author) and config.bots().match(author)


def clean_item(title: str, body: str, author: str | None, config: CleanConfig) -> Cleaned:
    """Clean one item and decide whether it is clustered.

    Returns a :class:`Cleaned` whose ``drop_reason`` is None for items to keep, else one of
    ``bot``, ``empty``, ``too_short``.
    """
    text = clean_text(title, body, max_chars=config.max_chars)
    if is_bot(author, config):
        return Cleaned(text, "bot")
    if not text:
        return Cleaned(text, "empty")
    if word_count(text) < config.min_words:
        return Cleaned(text, "too_short")
    return Cleaned(text, None)


__all__ = [
    "PART_SEPARATOR", "Cleaned", "clean_body", "clean_item", "clean_text", "is_bot", "strip_html",
]
