"""One card per ranked theme in the PM report, and the small HTML pieces the page shares.

Customer text goes through :func:`feedback_pipeline.markup.html_text` (redacted, escaped);
links through :func:`feedback_pipeline.deliver.jira.render.safe_url`, as in Jira. The trend is
the ranking's flag worded by :func:`feedback_pipeline.rank.trends.trend_phrase`, nothing else.
"""

from __future__ import annotations

import json

from feedback_pipeline.deliver.jira.render import safe_url
from feedback_pipeline.markup import html_escape, html_text
from feedback_pipeline.rank.trends import trend_phrase
from feedback_pipeline.report.data import ReportData, source_name
from feedback_pipeline.report.terminal import explain
from feedback_pipeline.report.value import value_block

TREND_HELP = {
    "new": "first seen in the last few days",
    "rising": "the last week is well above its trailing median",
    "fading": "the last week is well below its trailing median",
    "steady": "neither new, rising nor fading",
}


def e(text: object) -> str:
    """Our own text (names, numbers) HTML-escaped."""
    return html_escape(text)


def text(value: object, limit: int = 600) -> str:
    """Customer text: redacted, on one line, HTML-escaped, then clipped (``markup``)."""
    return html_text(value, limit)


def link(url: str | None, label: str, *, trusted: bool = False) -> str:
    """``label`` (already HTML) linked to ``url`` when it is a safe URL; else just ``label``."""
    href = url if trusted and url and url.startswith(("https://", "http://")) else safe_url(url)
    if not href:
        return label
    return f'<a href="{e(href)}" rel="noopener noreferrer" target="_blank">{label}</a>'


def trend_flag(theme: dict) -> str:
    return theme.get("trend") or "steady"


def trend_span(theme: dict) -> str:
    """The theme's trend as the page shows it everywhere: its phrase, coloured by its flag."""
    flag = trend_flag(theme)
    return (f'<span class="trend-phrase trend-{e(flag)}" data-trend="{e(flag)}" '
            f'title="{e(flag)}: {e(TREND_HELP.get(flag, ""))}">{e(trend_phrase(theme))}</span>')


def mix(title: str, counts: dict[str, int], css: str) -> str:
    """A stacked bar with a legend: 'request 60% (12) · problem 30% (6) …'; '' when empty."""
    total = sum(counts.values())
    parts = sorted(((k, n) for k, n in counts.items() if n), key=lambda kv: (-kv[1], kv[0]))
    if not total:
        return ""
    bar = "".join(f'<span class="seg seg-{e(k)}" style="width:{100 * n / total:.2f}%" '
                  f'title="{e(k)}: {n}"></span>' for k, n in parts)
    legend = " · ".join(f'<span class="key key-{e(k)}"></span>{e(k)} {100 * n / total:.0f}% '
                        f'({n})' for k, n in parts)
    return (f'<div class="mix {css}"><span class="mix-title">{e(title)}</span>'
            f'<div class="bar">{bar}</div><div class="legend">{legend}</div></div>')


def _breakdown(theme: dict) -> str:
    parts = (json.loads(theme["breakdown"]) if isinstance(theme["breakdown"], str)
             else theme["breakdown"]) or {}
    top = max((c["weight"] for c in parts.values()), default=1) or 1
    rows = "".join(
        f'<tr><th scope="row">{e(name.replace("_", " "))}</th><td>{e(c["value"])}</td>'
        f'<td>{c["normalized"]:.2f}</td><td>{e(c["weight"])}</td><td>{c["points"]:.2f}</td>'
        f'<td class="pts"><span style="width:{100 * max(c["points"], 0) / top:.1f}%"></span></td>'
        f"</tr>"
        for name, c in sorted(parts.items(), key=lambda kv: -kv[1]["points"]))
    return (f'<table class="breakdown"><caption>score {theme["score"]:.2f} = '
            f'{e(explain(parts)) or "0"}</caption><thead><tr><th>component</th><th>value</th>'
            f'<th>normalised</th><th>weight</th><th>points</th><th></th></tr></thead>'
            f"<tbody>{rows}</tbody></table>"
            + "".join(f'<p class="reason">{e(name.replace("_", " "))}: {e(c["reason"])}</p>'
                      for name, c in parts.items() if c.get("reason")))


def _quote(q: dict) -> str:
    where = f"{text(q.get('source', ''), 60)} #{text(q.get('external_id', ''), 80)}"
    return (f'<li class="quote" data-source="{e(source_name(q.get("source")))}" '
            f'data-type="{e(q["item_type"])}"><blockquote>{text(q.get("text"))}</blockquote>'
            f'<span class="where">{e(q["item_type"])} · {link(q.get("url"), where)}</span></li>')


def _quotes(quotes: list[dict]) -> str:
    if not quotes:
        return '<p class="no-quotes">No quote was picked for this theme.</p>'
    items = ("".join(_quote(q) for q in quotes)
             + '<li class="no-quote" hidden>No quote from the selected source and type.</li>')
    return (f'<details class="quotes" open><summary>What customers say ({len(quotes)})'
            f"</summary><ul>{items}</ul></details>")


def card(theme: dict, data: ReportData, shipped_ids: set[int]) -> str:
    """The theme's card: facts, trend, chart, mixes, quotes, and its score breakdown (closed)."""
    tid = theme["theme_id"]
    flag = trend_flag(theme)
    badges = [f'<span class="badge trend-{e(flag)}" title="{e(TREND_HELP.get(flag, ""))}">'
              f"{e(flag)}</span>"]
    if theme.get("needs_review"):
        badges.append('<span class="badge review" title="its members are not alike enough: '
                      'not sent to Jira or Slack until a person splits, merges or rejects it">'
                      "needs review</span>")
    if tid in shipped_ids:
        badges.append('<span class="badge shipped">shipped</span>')
    if tid in data.jira:
        key, url = data.jira[tid]
        badges.append(f'<span class="badge jira">{link(url, e(key), trusted=True)}</span>')
    keywords = ", ".join(str(k) for k in theme.get("keywords") or [])
    mixes = (mix("item types", data.types.get(tid, {}), "types")
             + mix("languages", data.languages.get(tid, {}), "langs"))
    return f"""
<article class="theme" id="theme-{tid}" data-theme-id="{tid}" data-trend="{e(flag)}">
  <header>
    <span class="rank">#{theme["rank"]}</span>
    <h3>{text(theme["title"], 200)}</h3>
    {"".join(badges)}
    <a class="permalink" href="#theme-{tid}" title="a link to this theme, to share">link</a>
  </header>
  <p class="facts">score <b>{theme["score"]:.2f}</b> · <b>{theme["item_count"]}</b> items from
    <b>{theme["distinct_authors"]}</b> distinct authors · {theme["support_count"]} support tickets,
    {theme["community_count"]} community posts · {theme["votes"]} votes ·
    last seen {theme["last_seen"]:%Y-%m-%d} · theme {tid}
    <span class="match" hidden></span></p>
  <p class="trend-line">Trend: {trend_span(theme)}</p>
  {f'<p class="keywords">{text(keywords, 300)}</p>' if keywords else ""}
  <div class="cols">
    <figure class="trend-fig"><svg class="trend" data-theme-id="{tid}" role="img"
      viewBox="0 0 560 170"></svg>
      <figcaption class="trend-caption">items per day</figcaption></figure>
    {f'<div class="mixes">{mixes}</div>' if mixes else ""}
  </div>
  {value_block(theme, data.value.get(tid))}
  {_quotes(data.quotes.get(tid, []))}
  <details class="why"><summary>Why it ranks here (score {theme["score"]:.2f})</summary>
    {_breakdown(theme)}</details>
</article>"""


__all__ = ["TREND_HELP", "card", "e", "link", "mix", "text", "trend_flag", "trend_span"]
