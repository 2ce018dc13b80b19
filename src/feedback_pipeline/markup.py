"""One renderer per output format: every customer field passes through one of these.

Each renderer takes a raw value (title, quote, keyword, source name, id…), bounds its length,
redacts it (:func:`feedback_pipeline.redact.redact`), puts it on one line, escapes it for the
format, and only then cuts it to the format's limit, on a boundary between two escapes, so a
cut never leaves half an escape (a lone ``\\`` in Jira, ``&am`` in Slack or HTML). Only the
markup the caller writes around the result is live.

* Slack mrkdwn: ``&``, ``<``, ``>`` become entities (no ``<!here>``, ``<@U1>``, ``<url|x>``).
* Jira wiki markup: ``\\`` becomes ``&#92;`` (a wiki ``\\\\`` is a line break, and a trailing
  ``\\`` would escape our closing ``{quote}``); every character that opens a macro, a block,
  a link, a mention, an image, a table cell or bold/italic (``{ } [ ] | ! * _``) is
  backslash-escaped. (Text effects such as ``-strike-`` or ``+under+`` are left: they make no
  link, mention, image or block; callers never start a line with a customer field.)
* HTML: :func:`html.escape` with quotes.
* CSV: cells starting with ``= + - @``, a tab or a carriage return get a leading ``'`` (OWASP's
  CSV-injection rule), except plain numbers ("-1" is a number, never a formula).
* Markdown (the Prefect artifact): ``\\ ` * _ [ ] ( ) < > | # ! ~`` backslash-escaped.
* JSON: ``json.dumps`` with ``<``, ``>``, ``&`` and U+2028/9 as ``\\u`` escapes, so a document is
  also safe inside an HTML ``<script>`` block.
"""

from __future__ import annotations

import csv
import html
import json
import re
from collections.abc import Iterable, Mapping

from feedback_pipeline.redact import redact

ELLIPSIS = "…"
# Before redaction a field is cut near this many times its limit (at a space when there is one
# close by): enough that redaction shrinking the text never pulls an unredacted cut into view.
BOUND_FACTOR, BOUND_MIN = 4, 2_048


def bound(value: object, limit: int) -> str:
    """``value`` as text, cut (at a space when possible) before it can reach redaction."""
    text = "" if value is None else str(value)
    cap = max(limit * BOUND_FACTOR, BOUND_MIN)
    if len(text) <= cap:
        return text
    space = text.rfind(" ", cap - 256, cap)
    return text[: space if space > 0 else cap]


# C0/C1 controls (a terminal obeys ESC sequences: a title could recolour, hide or rewrite the
# lines of `themes` or `search`) and the bidi overrides that make text read other than it is
# stored. Whitespace controls are not here: splitting on whitespace folds them to spaces.
CONTROLS = re.compile(r"[\x00-\x08\x0e-\x1b\x7f-\x84\x86-\x9f\u202a-\u202e\u2066-\u2069]")


def clean(value: object, limit: int) -> str:
    """Bounded, redacted, on one line, without control characters (not yet escaped)."""
    return " ".join(CONTROLS.sub("", redact(bound(value, limit))).split())


def cut(pieces: list[str], limit: int) -> str:
    """Join escaped ``pieces`` (one per source character), cut to ``limit`` with "…" between
    two pieces, never inside one."""
    if sum(map(len, pieces)) <= limit:
        return "".join(pieces)
    out, used = [], 0
    for piece in pieces:
        if used + len(piece) > limit - len(ELLIPSIS):
            break
        out.append(piece)
        used += len(piece)
    return "".join(out).rstrip() + ELLIPSIS


def _render(value: object, limit: int, escapes: Mapping[str, str]) -> str:
    return cut([escapes.get(ch, ch) for ch in clean(value, limit)], limit)


SLACK_ESCAPES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
JIRA_ESCAPES = {"\\": "&#92;", **{ch: "\\" + ch for ch in "{}[]|!*_"}}
HTML_ESCAPES = {ch: html.escape(ch, quote=True) for ch in "&<>\"'"}


def slack_text(value: object, limit: int) -> str:
    """A customer field for Slack mrkdwn (redacted, escaped, then cut)."""
    return _render(value, limit, SLACK_ESCAPES)


def slack_escape(text: str) -> str:
    """Escape text of ours (already redacted) for mrkdwn, e.g. an error message."""
    return "".join(SLACK_ESCAPES.get(ch, ch) for ch in text)


def jira_text(value: object, limit: int) -> str:
    """A customer field for Jira wiki markup (redacted, escaped, then cut)."""
    return _render(value, limit, JIRA_ESCAPES)


def html_text(value: object, limit: int) -> str:
    """A customer field for HTML text or a quoted attribute (redacted, escaped, then cut)."""
    return _render(value, limit, HTML_ESCAPES)


def html_escape(value: object) -> str:
    """Escape text of ours (not customer text) for HTML."""
    return html.escape(str(value), quote=True)


MARKDOWN_ESCAPES = {ch: "\\" + ch for ch in "\\`*_[]()<>|#!~"}


def markdown_text(value: object, limit: int) -> str:
    """A customer field for Markdown (the Prefect artifact): no link, image, HTML or table
    cell it did not ask for."""
    return _render(value, limit, MARKDOWN_ESCAPES)


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")


def csv_cell(value: object) -> object:
    """A cell no spreadsheet evaluates: text starting like a formula gets a leading ``'``."""
    if isinstance(value, str) and value.startswith(_FORMULA_START) \
            and not _NUMBER.fullmatch(value):
        return "'" + value
    return value


def csv_rows(rows: Iterable[Iterable[object]]) -> str:
    """CSV text of ``rows`` with every cell through :func:`csv_cell`."""
    import io

    buf = io.StringIO()
    write_csv(buf, rows)
    return buf.getvalue()


def write_csv(stream, rows: Iterable[Iterable[object]]) -> None:
    """Write ``rows`` to an open text stream, every cell through :func:`csv_cell`."""
    writer = csv.writer(stream)
    for row in rows:
        writer.writerow([csv_cell(v) for v in row])


_JSON_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028",
                 "\u2029": "\\u2029"}
_JSON_SPECIAL = re.compile("[<>&\u2028\u2029]")


def json_document(obj: object, *, indent: int | None = None) -> str:
    """JSON text of ``obj`` that is also inert inside HTML ``<script>`` or a JS string."""
    text = json.dumps(obj, indent=indent, ensure_ascii=False, default=str,
                      separators=None if indent else (",", ":"))
    return _JSON_SPECIAL.sub(lambda m: _JSON_ESCAPES[m.group(0)], text)


def json_text(value: object, limit: int) -> str:
    """A customer field for a JSON document (redacted, one line, cut; json escapes it)."""
    text = clean(value, limit)
    return text if len(text) <= limit else text[: limit - 1].rstrip() + ELLIPSIS


__all__ = ["ELLIPSIS", "bound", "clean", "csv_cell", "csv_rows", "cut", "html_escape",
           "html_text", "jira_text", "json_document", "markdown_text", "json_text", "slack_escape", "slack_text",
           "write_csv"]
