"""Slack Block Kit (and mrkdwn) to HTML, for the README's picture of a dry-run digest.

Renders the block types Slack documents for messages - header, section (text, fields,
accessory), context, divider, image, actions, rich_text (sections, lists, quotes, preformatted) -
and mrkdwn: *bold*, _italic_, ~strike~, `code`, ```pre```, > quotes, <url|label> links, user,
channel and special mentions, &amp;-escapes and :emoji: codes. A block type it does not know is
shown as a labelled box with its text, never dropped.
"""

from __future__ import annotations

import html
import re

# The emoji our digests and Slack's common vocabulary use; an unknown code stays ":code:", as
# Slack shows a custom emoji it cannot find.
EMOJI = {
    "trophy": "🏆", "arrow_upper_right": "↗️", "arrow_lower_right": "↘️", "arrow_right": "➡️",
    "arrow_up": "⬆️", "arrow_down": "⬇️", "chart_with_upwards_trend": "📈",
    "chart_with_downwards_trend": "📉", "bar_chart": "📊", "new": "🆕", "sparkles": "✨",
    "tada": "🎉", "rocket": "🚀", "ship": "🚢", "package": "📦", "speech_balloon": "💬",
    "pray": "🙏", "heart": "❤️", "star": "⭐", "white_check_mark": "✅", "heavy_check_mark": "✔️",
    "warning": "⚠️", "fire": "🔥", "bulb": "💡", "raised_hands": "🙌", "clap": "👏",
    "thumbsup": "👍", "+1": "👍", "thumbsdown": "👎", "mega": "📣", "loudspeaker": "📢",
    "eyes": "👀", "link": "🔗", "memo": "📝", "question": "❓", "grey_question": "❔",
    "exclamation": "❗", "wave": "👋", "calendar": "📅", "mag": "🔍", "hourglass": "⌛",
    "sos": "🆘", "rotating_light": "🚨", "lock": "🔒", "bug": "🐛", "wrench": "🔧",
    "hammer_and_wrench": "🛠️", "information_source": "ℹ️", "busts_in_silhouette": "👥",
    "bust_in_silhouette": "👤", "handshake": "🤝", "inbox_tray": "📥", "outbox_tray": "📤",
    "thread": "🧵", "point_right": "👉", "arrows_counterclockwise": "🔄", "zzz": "💤",
    "small_red_triangle": "🔺", "small_red_triangle_down": "🔻", "heavy_minus_sign": "➖",
    "sunny": "☀️", "seedling": "🌱", "star2": "🌟", "100": "💯", "ticket": "🎫",
    "construction": "🚧", "x": "❌", "no_entry": "⛔", "clipboard": "📋", "books": "📚",
    "newspaper": "📰", "globe_with_meridians": "🌐", "email": "📧", "envelope": "✉️",
}
_SAFE_SCHEMES = ("http://", "https://", "mailto:")


def _emoji(text: str) -> str:
    return re.sub(r":([a-z0-9_+\-]+):", lambda m: EMOJI.get(m.group(1), m.group(0)), text)


def _span(text: str) -> str:
    """Inline mrkdwn of one line (already free of code spans and links)."""
    text = html.escape(text, quote=False)
    for mark, tag in (("*", "b"), ("_", "i"), ("~", "s")):
        m = re.escape(mark)
        text = re.sub(rf"(?<![\w{m}]){m}(?=\S)([^\n]*?\S){m}(?![\w{m}])|(?<![\w{m}]){m}(\S){m}"
                      rf"(?![\w{m}])", lambda g, t=tag: f"<{t}>{g.group(1) or g.group(2)}</{t}>",
                      text)
    return _emoji(text)


def _link(target: str) -> str:
    url, _, label = target.partition("|")
    if url.startswith("@"):
        return f'<span class="mention">@{html.escape(label or url[1:])}</span>'
    if url.startswith("#"):
        return f'<span class="mention">#{html.escape(label or url[1:])}</span>'
    if url.startswith("!"):
        word = label or url[1:].split("^")[0]
        return f'<span class="mention">@{html.escape(word)}</span>'
    if not url.lower().startswith(_SAFE_SCHEMES):
        return html.escape(f"<{target}>")
    return f'<a href="{html.escape(url)}">{html.escape(label or url)}</a>'


def mrkdwn(text: str) -> str:
    """Slack mrkdwn as HTML (Slack sends &, < and > escaped; links are <url|label>)."""
    held: list[str] = []

    def hold(rendered: str) -> str:
        held.append(rendered)
        return f"\x00{len(held) - 1}\x00"

    text = re.sub(r"```\n?(.*?)```", lambda m: hold(
        f"<pre>{html.escape(_unescape(m.group(1)))}</pre>"), text, flags=re.S)
    text = re.sub(r"`([^`\n]+)`", lambda m: hold(
        f"<code>{html.escape(_unescape(m.group(1)))}</code>"), text)
    text = re.sub(r"<([^<>\n]+)>", lambda m: hold(_link(_unescape(m.group(1)))), text)
    lines, out, quote = _unescape(text).split("\n"), [], []
    for line in lines:
        if line.startswith(("&gt;", ">")):
            quote.append(_span(re.sub(r"^(&gt;|>) ?", "", line)))
            continue
        if quote:
            out.append(f"<blockquote>{'<br>'.join(quote)}</blockquote>")
            quote = []
        out.append(_span(line) + "<br>")
    if quote:
        out.append(f"<blockquote>{'<br>'.join(quote)}</blockquote>")
    rendered = "".join(out)
    rendered = re.sub(r"(<br>)+$", "", rendered)
    while "\x00" in rendered:
        rendered = re.sub(r"\x00(\d+)\x00", lambda m: held[int(m.group(1))], rendered)
    return rendered


def _unescape(text: str) -> str:
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def text_object(obj: dict | None) -> str:
    """A Block Kit text object (plain_text or mrkdwn) as HTML."""
    if not obj:
        return ""
    text = str(obj.get("text", ""))
    if obj.get("type") == "mrkdwn":
        return mrkdwn(text)
    rendered = html.escape(text).replace("\n", "<br>")
    return _emoji(rendered) if obj.get("emoji", True) else rendered


def _element(el: dict) -> str:
    kind = el.get("type")
    if kind in ("mrkdwn", "plain_text"):
        return f"<span>{text_object(el)}</span>"
    if kind == "image":
        return f'<span class="img" title="{html.escape(str(el.get("alt_text", "")))}">▣</span>'
    if kind == "button":
        return f'<span class="button">{text_object(el.get("text"))}</span>'
    return f'<span class="unknown">[{html.escape(str(kind))}]</span>'


def _rich(el: dict) -> str:
    kind = el.get("type")
    if kind == "rich_text_section":
        return "".join(_rich_leaf(e) for e in el.get("elements", []))
    if kind == "rich_text_list":
        tag = "ol" if el.get("style") == "ordered" else "ul"
        return f"<{tag}>" + "".join(f"<li>{_rich(e)}</li>" for e in el.get("elements", [])) \
            + f"</{tag}>"
    if kind == "rich_text_quote":
        return "<blockquote>" + "".join(_rich_leaf(e) for e in el.get("elements", [])) \
            + "</blockquote>"
    if kind == "rich_text_preformatted":
        return "<pre>" + "".join(_rich_leaf(e) for e in el.get("elements", [])) + "</pre>"
    return f'<span class="unknown">[{html.escape(str(kind))}]</span>'


def _rich_leaf(e: dict) -> str:
    kind = e.get("type")
    if kind == "text":
        out = html.escape(e.get("text", "")).replace("\n", "<br>")
        style = e.get("style") or {}
        for flag, tag in (("code", "code"), ("strike", "s"), ("italic", "i"), ("bold", "b")):
            if style.get(flag):
                out = f"<{tag}>{out}</{tag}>"
        return out
    if kind == "link":
        return _link(f"{e.get('url', '')}|{e.get('text') or e.get('url', '')}")
    if kind == "emoji":
        return EMOJI.get(e.get("name", ""), f":{html.escape(e.get('name', ''))}:")
    if kind in ("user", "channel", "usergroup", "broadcast"):
        return f'<span class="mention">@{html.escape(str(e.get("user_id") or e.get("range") or e.get("channel_id") or ""))}</span>'  # noqa: E501
    return _rich(e)


def block(b: dict) -> str:
    """One block as HTML."""
    kind = b.get("type")
    if kind == "header":
        return f'<div class="b-header">{text_object(b.get("text"))}</div>'
    if kind == "divider":
        return '<hr class="b-divider">'
    if kind == "context":
        return ('<div class="b-context">'
                + "".join(_element(e) for e in b.get("elements", [])) + "</div>")
    if kind == "section":
        fields = "".join(f"<div>{text_object(f)}</div>" for f in b.get("fields", []))
        accessory = _element(b["accessory"]) if b.get("accessory") else ""
        return (f'<div class="b-section"><div class="b-text">{text_object(b.get("text"))}'
                + (f'<div class="b-fields">{fields}</div>' if fields else "")
                + f"</div>{accessory}</div>")
    if kind == "image":
        title = text_object(b.get("title"))
        return (f'<div class="b-image">▣ image: '
                f'{html.escape(str(b.get("alt_text", "")))} {title}</div>')
    if kind == "actions":
        return '<div class="b-actions">' + "".join(_element(e) for e in b.get("elements", [])) \
            + "</div>"
    if kind == "rich_text":
        return '<div class="b-rich">' + "".join(_rich(e) for e in b.get("elements", [])) \
            + "</div>"
    text = b.get("text")
    shown = text_object(text) if isinstance(text, dict) else html.escape(str(text or ""))
    return f'<div class="unknown">[{html.escape(str(kind))} block] {shown}</div>'


def message(payload: dict) -> str:
    """A message's blocks as HTML (its ``text`` when it has no blocks, as Slack does)."""
    blocks = payload.get("blocks") or []
    if not blocks:
        return f'<div class="b-section">{mrkdwn(str(payload.get("text", "")))}</div>'
    return "".join(block(b) for b in blocks)


__all__ = ["EMOJI", "block", "message", "mrkdwn", "text_object"]
