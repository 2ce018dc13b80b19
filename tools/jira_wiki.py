"""Jira wiki markup to HTML, for the README's picture of a dry-run Jira issue.

Covers what Jira's own renderer does with the markup our issues use, and the usual rest of it:
headings (``h1.``-``h6.``), ``bq.``, lists (``*``, ``#``, ``-``, nested), tables (``||head||``
and ``|cell|``), ``{quote}``, ``{panel:title=..}``, ``{expand:title}`` (collapsed, as Jira shows
it), ``{code}``, ``{noformat}``, ``{color:..}``, ``{anchor:..}``, ``----``, and inline
``*bold*``, ``_italic_``, ``-strike-``, ``+underline+``, ``{{monospace}}``, ``??citation??``,
``^sup^``, ``~sub~``, ``[label|url]``, ``[url]``, bare URLs, ``\\\\`` line breaks, ``\\`` escapes
and the (/) (x) (!) (i) icons. Markup it does not know stays visible as text, so nothing is
silently dropped.
"""

from __future__ import annotations

import html
import re

_PH = "\x00{}\x00"  # placeholders for already rendered inline pieces (links, code, escapes)
_ICONS = {"(/)": "✅", "(x)": "❌", "(!)": "⚠️", "(i)": "ℹ️", "(?)": "❓", "(y)": "👍",
          "(n)": "👎", "(on)": "💡", "(*)": "⭐"}
_INLINE = [  # (markup, tag): delimiters must hug the text and not sit inside a word
    (r"\*", "strong"), (r"_", "em"), (r"\?\?", "cite"), (r"-", "del"), (r"\+", "ins"),
    (r"\^", "sup"), (r"~", "sub"),
]
_URL = re.compile(r"(?<![\w\"'=])(https?://[^\s|\]<>\"]+[^\s|\]<>\".,;:!?)])")
_SAFE_SCHEMES = ("http://", "https://", "mailto:")


def _attr_url(url: str) -> str | None:
    url = url.strip()
    return url if url.lower().startswith(_SAFE_SCHEMES) else None


class _Inline:
    """Renders one run of inline markup; pieces that must not be re-parsed become placeholders."""

    def __init__(self) -> None:
        self.pieces: list[str] = []

    def _hold(self, rendered: str) -> str:
        self.pieces.append(rendered)
        return _PH.format(len(self.pieces) - 1)

    def render(self, text: str) -> str:
        text = re.sub(r"\\([\\\[\]{}*_\-+^~?|!#])", lambda m: self._hold(html.escape(m.group(1))),
                      text)
        text = re.sub(r"\{\{(.+?)\}\}", lambda m: self._hold(
            f"<code>{html.escape(m.group(1))}</code>"), text)
        text = re.sub(r"\[([^\[\]]+?)\]", self._link, text)
        text = _URL.sub(lambda m: self._hold(
            f'<a href="{html.escape(m.group(1))}">{html.escape(m.group(1))}</a>'), text)
        text = re.sub(r"\{color:([#\w]+)\}(.*?)\{color\}", lambda m: self._hold(
            f'<span style="color:{html.escape(m.group(1))}">{self.render(m.group(2))}</span>'),
                      text)
        # {anchor:name} is an invisible link target in Jira
        text = re.sub(r"\{anchor:([^}]*)\}", lambda m: self._hold(
            f'<a id="{html.escape(m.group(1))}"></a>'), text)
        for icon, glyph in _ICONS.items():
            text = text.replace(icon, self._hold(f'<span class="icon">{glyph}</span>'))
        text = html.escape(text, quote=False)
        for mark, tag in _INLINE:
            text = re.sub(rf"(?<![\w{mark[-1]}]){mark}(?=\S)(.+?)(?<=\S){mark}(?![\w{mark[-1]}])",
                          rf"<{tag}>\1</{tag}>", text)
        text = text.replace("\\\\", "<br>")
        return self.restore(text)

    def restore(self, text: str) -> str:
        while "\x00" in text:
            text = re.sub(r"\x00(\d+)\x00", lambda m: self.pieces[int(m.group(1))], text)
        return text

    def _link(self, m: re.Match) -> str:
        inner = m.group(1)
        label, _, target = inner.rpartition("|") if "|" in inner else ("", "", inner)
        url = _attr_url(target)
        if url is None:
            if target.startswith("~") or target.startswith("^") or target.startswith("#"):
                return self._hold(f'<a class="ref">{html.escape(label or target)}</a>')
            return m.group(0)  # not a link: leave the brackets as text
        shown = _Inline().render(label) if label else html.escape(url)
        return self._hold(f'<a href="{html.escape(url)}">{shown}</a>')


def inline(text: str) -> str:
    """One line of wiki markup as HTML."""
    return _Inline().render(text)


def _macro_title(params: str) -> str:
    if not params:
        return ""
    first = params.split("|")[0]
    if "=" not in first:
        return first
    found = re.search(r"(?:^|\|)title=([^|]*)", params)
    return found.group(1) if found else ""


_BLOCK_MACROS = ("quote", "panel", "expand", "code", "noformat")
# ``{{code}}`` is monospace text, not the code macro
_OPEN = re.compile(r"(?<!\{)\{(quote|panel|expand|code|noformat)(?::([^}]*))?\}(?!\})")


def _split_macros(text: str) -> list[tuple[str, str, str]]:
    """[(kind, params, body)]: kind '' is plain markup; macros nest (an expand holding quotes)."""
    out: list[tuple[str, str, str]] = []
    pos = search = 0  # plain text runs from pos; the next macro is looked for from search
    while (m := _OPEN.search(text, search)) is not None:
        kind, params = m.group(1), m.group(2) or ""
        depth, cursor, end = 1, m.end(), None
        pattern = re.compile(r"(?<!\{)\{" + kind + r"(?::[^}]*)?\}(?!\})")
        while (n := pattern.search(text, cursor)) is not None:
            # In Jira the same tag opens and closes; a tag with parameters always opens.
            opens = ":" in n.group(0) and kind not in ("code", "noformat")
            depth = depth + 1 if opens else depth - 1
            if depth == 0:
                end = n
                break
            cursor = n.end()
        if end is None:  # never closed: Jira shows it as text
            search = m.end()
            continue
        out.append(("", "", text[pos:m.start()]))
        out.append((kind, params, text[m.end():end.start()]))
        pos = search = end.end()
    out.append(("", "", text[pos:]))
    return [part for part in out if part[0] or part[2]]


def render(text: str) -> str:
    """A Jira wiki document as HTML."""
    parts = []
    for kind, params, body in _split_macros(text):
        if kind == "":
            parts.append(_blocks(body))
        elif kind in ("code", "noformat"):
            parts.append(f'<pre class="{kind}">{html.escape(body.strip(chr(10)))}</pre>')
        elif kind == "quote":
            parts.append(f"<blockquote>{render(body.strip())}</blockquote>")
        elif kind == "panel":
            title = _macro_title(params)
            head = f'<div class="panel-title">{inline(title)}</div>' if title else ""
            parts.append(f'<div class="panel">{head}<div class="panel-body">'
                         f"{render(body.strip())}</div></div>")
        else:  # expand: collapsed, as Jira shows it until clicked
            title = _macro_title(params) or "Click here to expand..."
            parts.append(f'<details class="expand"><summary>{inline(title)}</summary>'
                         f"{render(body.strip())}</details>")
    return "".join(parts)


_LIST = re.compile(r"^([*#-]+)\s+(.*)$")
_HEADING = re.compile(r"^h([1-6])\.\s*(.*)$")


def _blocks(text: str) -> str:
    out: list[str] = []
    para: list[str] = []
    lists: list[str] = []  # open list tags, innermost last
    table: list[str] = []

    def flush_para() -> None:
        if para:
            out.append(f"<p>{'<br>'.join(inline(line) for line in para)}</p>")
            para.clear()

    def close_lists(depth: int = 0) -> None:
        while len(lists) > depth:
            out.append(f"</li></{lists.pop()}>")

    def flush_table() -> None:
        if table:
            out.append(_table(table))
            table.clear()

    for raw in text.split("\n"):
        line = raw.rstrip()
        stripped = line.strip()
        if stripped.startswith("|"):
            flush_para(), close_lists()
            table.append(stripped)
            continue
        flush_table()
        if not stripped:
            flush_para(), close_lists()
            continue
        if (m := _HEADING.match(stripped)) is not None:
            flush_para(), close_lists()
            out.append(f"<h{m.group(1)}>{inline(m.group(2))}</h{m.group(1)}>")
        elif stripped.startswith("bq. "):
            flush_para(), close_lists()
            out.append(f"<blockquote><p>{inline(stripped[4:])}</p></blockquote>")
        elif re.fullmatch(r"-{4,}", stripped):
            flush_para(), close_lists()
            out.append("<hr>")
        elif (m := _LIST.match(stripped)) is not None and not (
                m.group(1) == "-" * len(m.group(1)) and len(m.group(1)) > 1):
            flush_para()
            marks = m.group(1)
            tag = "ol" if marks[-1] == "#" else "ul"
            depth = len(marks)
            if len(lists) >= depth:
                close_lists(depth)
                if lists and lists[-1] != tag:
                    close_lists(depth - 1)
            if len(lists) == depth:
                out.append(f"</li><li>{inline(m.group(2))}")
            else:
                while len(lists) < depth:
                    lists.append(tag)
                    out.append(f"<{tag}><li>")
                out.append(inline(m.group(2)))
        else:
            close_lists()
            para.append(stripped)
    flush_para(), close_lists(), flush_table()
    return "\n".join(out)


def _cells(row: str) -> list[tuple[bool, str]]:
    """[(is_header, text)] of one table row; a link's or image's '|' does not split a cell."""
    protected = re.sub(r"\[[^\[\]]*\]|\{\{.*?\}\}",
                       lambda m: m.group(0).replace("|", "\x01"), row)
    cells: list[tuple[bool, str]] = []
    for m in re.finditer(r"(\|\|?)([^|]*)", protected):
        text = m.group(2).replace("\x01", "|")
        if m.end() == len(protected) and not text.strip():
            break  # the row's closing bar
        cells.append((m.group(1) == "||", text.strip()))
    return cells


def _table(rows: list[str]) -> str:
    body = []
    for row in rows:
        cells = "".join(f"<{'th' if head else 'td'}>{inline(text)}</{'th' if head else 'td'}>"
                        for head, text in _cells(row))
        body.append(f"<tr>{cells}</tr>")
    return f'<table class="wiki">{"".join(body)}</table>'


__all__ = ["inline", "render"]
