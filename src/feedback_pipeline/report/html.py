"""The PM report: one self-contained HTML page built from the warehouse.

``feedback-pipeline report`` writes it. The page shows the stored ranking of the latest run (so
only themes that passed the ranking's distinct-authors rule appear) with each score's breakdown,
a trend chart of items per day per theme, the new / rising / fading flags, themes whose Jira
issue is Done ("shipped"), quotes with links, and the item-type and language mix. Two filters
(source, item type) hide the themes and quotes that do not match and redraw the charts.

Self-contained: CSS and JavaScript (``templates/``) are inlined, the charts are SVG drawn by the
inline script from a JSON block, and a Content-Security-Policy forbids loading anything else.
Customer text goes through :func:`feedback_pipeline.redact.redact` and is HTML-escaped; links
go through :func:`feedback_pipeline.deliver.jira.render.safe_url`, as in Jira.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from importlib import resources
from pathlib import Path
from string import Template

import duckdb

from feedback_pipeline.deliver.jira.render import safe_url
from feedback_pipeline.deliver.slack.queries import community_threads, jira_links
from feedback_pipeline.errors import WarehouseError
from feedback_pipeline.rank.score import latest_ranking
from feedback_pipeline.markup import clean, html_escape, html_text, json_document
from feedback_pipeline.report.terminal import explain, type_mix
from feedback_pipeline.warehouse import db

CHART_DAYS = 90  # the trend charts show at most the last 90 days with items
THREADS_PER_SHIPPED = 5
SOURCE_MAX = 60
SHIPPED_MAX = 20  # the most recently shipped; the heading counts them all
TREND_FLAGS = ("new", "rising", "fading")
TREND_HELP = {
    "new": "first seen in the last few days",
    "rising": "the last week is well above its trailing median",
    "fading": "the last week is well below its trailing median",
}
# Nothing may be loaded from anywhere: the page works from a file, offline, in an e-mail.
CSP = ("default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; "
       "base-uri 'none'; form-action 'none'")


@dataclass
class ReportData:
    """Everything the page shows, read from the warehouse by :func:`collect_report`."""

    generated_at: datetime
    run_id: str | None = None
    run_started: datetime | None = None
    ranked_total: int = 0  # themes in the stored ranking, before ``limit``
    themes: list[dict] = field(default_factory=list)  # rows of rank.latest_ranking
    # (theme_id, day, source, item type, items): what the charts and filters work on
    rows: list[tuple[int, date, str, str, int]] = field(default_factory=list)
    quotes: dict[int, list[dict]] = field(default_factory=dict)
    languages: dict[int, dict[str, int]] = field(default_factory=dict)
    types: dict[int, dict[str, int]] = field(default_factory=dict)
    jira: dict[int, tuple[str, str | None]] = field(default_factory=dict)
    shipped: list[dict] = field(default_factory=list)


def _member_rows(con: duckdb.DuckDBPyConnection, ids: list[int]) -> list[tuple]:
    # The same members as theme_daily_counts, split by source and item type.
    return con.execute(
        """
        SELECT t.theme_id, CAST(i.created_at AS DATE) AS day, i.source,
               coalesce(i.item_type, 'untyped') AS item_type, count(*) AS items
        FROM item_themes t JOIN items i USING (source, external_id)
        WHERE list_contains(?, t.theme_id) AND NOT i.deleted AND i.drop_reason IS NULL
        GROUP BY ALL ORDER BY 1, 2, 3, 4
        """, [ids]).fetchall()


def _languages(con: duckdb.DuckDBPyConnection, ids: list[int]) -> dict[int, dict[str, int]]:
    out: dict[int, dict[str, int]] = {}
    for theme_id, language, n in con.execute(
        """
        SELECT t.theme_id, coalesce(i.language, 'unknown'), count(*) AS n
        FROM item_themes t JOIN items i USING (source, external_id)
        WHERE list_contains(?, t.theme_id) AND NOT i.deleted AND i.drop_reason IS NULL
        GROUP BY ALL ORDER BY 1, 3 DESC, 2
        """, [ids]).fetchall():
        out.setdefault(theme_id, {})[language] = n
    return out


def _quotes(con: duckdb.DuckDBPyConnection, themes: list[dict]) -> dict[int, list[dict]]:
    """The quotes the label stage picked (as Jira and Slack use them), with each item's type."""
    picked = {t["theme_id"]: (json.loads(t["quotes"]) if isinstance(t["quotes"], str)
                              else t["quotes"]) or [] for t in themes}
    keys = [f"{q.get('source')}\x1f{q.get('external_id')}" for qs in picked.values() for q in qs]
    types: dict[str, str] = dict(con.execute(
        "SELECT source || chr(31) || external_id, coalesce(item_type, 'untyped') FROM items "
        "WHERE list_contains(?, source || chr(31) || external_id)", [keys]).fetchall())
    return {theme_id: [{**q, "item_type": types.get(f"{q.get('source')}\x1f{q.get('external_id')}",
                                                    "untyped")} for q in qs]
            for theme_id, qs in picked.items()}


def _shipped(con: duckdb.DuckDBPyConnection, tables: set[str],
             links: dict[int, tuple[str, str | None]]) -> list[dict]:
    """Themes whose Jira issue is Done (jira_issues), or marked shipped for the Slack digest."""
    parts = []
    if "jira_issues" in tables:
        parts.append("SELECT theme_id, issue_key AS jira_key, resolved_at AS shipped_at "
                     "FROM jira_issues WHERE jira_state = 'done'")
    if "slack_shipped" in tables:
        parts.append("SELECT theme_id, jira_key, shipped_at FROM slack_shipped")
    if not parts:
        return []
    rows = con.execute(
        f"""
        SELECT s.theme_id, any_value(s.jira_key) AS jira_key, max(s.shipped_at) AS shipped_at,
               any_value(coalesce(t.title, 'theme ' || s.theme_id)) AS title,
               any_value(t.size) AS size
        FROM ({' UNION ALL '.join(parts)}) s LEFT JOIN themes t USING (theme_id)
        GROUP BY s.theme_id ORDER BY shipped_at DESC NULLS LAST, s.theme_id
        """).fetchall()
    return [{"theme_id": theme_id, "jira_key": key or links.get(theme_id, (None, None))[0],
             "jira_url": links.get(theme_id, (None, None))[1], "shipped_at": at, "title": title,
             "size": size, "threads": community_threads(con, theme_id, THREADS_PER_SHIPPED)}
            for theme_id, key, at, title, size in rows]


def collect_report(con: duckdb.DuckDBPyConnection, *, limit: int = 20,
                   jira_server: str = "") -> ReportData:
    """Read what the page shows: the latest stored ranking (top ``limit``) and its evidence.

    Only reads; works on a read-only connection.

    Raises:
        WarehouseError: the warehouse was made by an older version (no ranking tables yet).
    """
    tables = db.tables(con)
    missing = {"theme_scores", "theme_trends", "items", "themes"} - tables
    if missing:
        raise WarehouseError(
            f"the warehouse has no {', '.join(sorted(missing))} table yet: run "
            "`feedback-pipeline run` once with this version to bring it up to date")
    ranking = latest_ranking(con)
    data = ReportData(generated_at=datetime.now(UTC), ranked_total=len(ranking),
                      themes=ranking[:limit])
    links = jira_links(con, jira_server)
    data.shipped = _shipped(con, tables, links)
    if not data.themes:
        return data
    data.run_id = data.themes[0]["run_id"]
    row = con.execute("SELECT started_at FROM runs WHERE run_id = ?", [data.run_id]).fetchone()
    data.run_started = row[0] if row else None
    ids = [int(t["theme_id"]) for t in data.themes]
    data.rows = [(t, d, _source_name(s), k, n) for t, d, s, k, n in _member_rows(con, ids)]
    data.languages = _languages(con, ids)
    data.types = {t["theme_id"]: type_mix(con, t["theme_id"], t) for t in data.themes}
    data.quotes = _quotes(con, data.themes)
    data.jira = {i: links[i] for i in ids if i in links}
    return data


def _source_name(source: object) -> str:
    """A source name as the filters, the chart data and the quotes all show it (redacted,
    bounded: file records name their own source)."""
    return clean(source, SOURCE_MAX)[:SOURCE_MAX]


def _e(text: object) -> str:
    return html_escape(text)


def _text(text: object, limit: int = 600) -> str:
    """Customer text: redacted, on one line, HTML-escaped, then clipped (``markup``)."""
    return html_text(text, limit)


def _link(url: str | None, label: str, *, trusted: bool = False) -> str:
    href = url if trusted and url and url.startswith(("https://", "http://")) else safe_url(url)
    if not href:
        return label
    return f'<a href="{_e(href)}" rel="noopener noreferrer" target="_blank">{label}</a>'


def _mix(title: str, mix: dict[str, int], css: str) -> str:
    """A stacked bar with a legend: 'request 60% (12) · problem 30% (6) …'."""
    total = sum(mix.values())
    parts = sorted(((k, n) for k, n in mix.items() if n), key=lambda kv: (-kv[1], kv[0]))
    if not total:
        return f'<div class="mix {css}"><span class="mix-title">{_e(title)}</span> none</div>'
    bar = "".join(f'<span class="seg seg-{_e(k)}" style="width:{100 * n / total:.2f}%" '
                  f'title="{_e(k)}: {n}"></span>' for k, n in parts)
    legend = " · ".join(f'<span class="key key-{_e(k)}"></span>{_e(k)} {100 * n / total:.0f}% '
                        f'({n})' for k, n in parts)
    return (f'<div class="mix {css}"><span class="mix-title">{_e(title)}</span>'
            f'<div class="bar">{bar}</div><div class="legend">{legend}</div></div>')


def _breakdown(theme: dict) -> str:
    parts = (json.loads(theme["breakdown"]) if isinstance(theme["breakdown"], str)
             else theme["breakdown"]) or {}
    top = max((c["weight"] for c in parts.values()), default=1) or 1
    rows = "".join(
        f'<tr><th scope="row">{_e(name.replace("_", " "))}</th><td>{_e(c["value"])}</td>'
        f'<td>{c["normalized"]:.2f}</td><td>{_e(c["weight"])}</td><td>{c["points"]:.2f}</td>'
        f'<td class="pts"><span style="width:{100 * max(c["points"], 0) / top:.1f}%"></span></td>'
        f"</tr>"
        for name, c in sorted(parts.items(), key=lambda kv: -kv[1]["points"]))
    return (f'<table class="breakdown"><caption>score {theme["score"]:.2f} = '
            f'{_e(explain(parts)) or "0"}</caption><thead><tr><th>component</th><th>value</th>'
            f'<th>normalised</th><th>weight</th><th>points</th><th></th></tr></thead>'
            f"<tbody>{rows}</tbody></table>")


def _quote_html(q: dict) -> str:
    where = f"{_text(q.get('source', ''), 60)} #{_text(q.get('external_id', ''), 80)}"
    return (f'<li class="quote" data-source="{_e(_source_name(q.get("source")))}" '
            f'data-type="{_e(q["item_type"])}"><blockquote>{_text(q.get("text"))}</blockquote>'
            f'<span class="where">{_e(q["item_type"])} · {_link(q.get("url"), where)}</span></li>')


def _card(theme: dict, data: ReportData, shipped_ids: set[int]) -> str:
    tid = theme["theme_id"]
    flag = theme.get("trend") or "steady"
    badges = [f'<span class="badge trend-{_e(flag)}" title="{_e(TREND_HELP.get(flag, ""))}">'
              f"{_e(flag)}</span>"]
    if theme.get("needs_review"):
        badges.append('<span class="badge review" title="its members are not alike enough: '
                      'not sent to Jira or Slack until a person splits, merges or rejects it">'
                      "needs review</span>")
    if tid in shipped_ids:
        badges.append('<span class="badge shipped">shipped</span>')
    if tid in data.jira:
        key, url = data.jira[tid]
        badges.append(f'<span class="badge jira">{_link(url, _e(key), trusted=True)}</span>')
    keywords = ", ".join(str(k) for k in theme.get("keywords") or [])
    quotes = data.quotes.get(tid, [])
    quote_list = ("".join(_quote_html(q) for q in quotes)
                  + '<li class="no-quote" hidden>No quote from the selected source and type.</li>')
    last_seen = theme["last_seen"]
    return f"""
<article class="theme" id="theme-{tid}" data-theme-id="{tid}" data-trend="{_e(flag)}">
  <header>
    <span class="rank">#{theme["rank"]}</span>
    <h3>{_text(theme["title"], 200)}</h3>
    {"".join(badges)}
  </header>
  <p class="facts">score <b>{theme["score"]:.2f}</b> · <b>{theme["item_count"]}</b> items from
    <b>{theme["distinct_authors"]}</b> distinct authors · {theme["support_count"]} support tickets,
    {theme["community_count"]} community posts · {theme["votes"]} votes ·
    last {theme["recent_count"]} vs previous {theme["previous_count"]} (×{theme["growth"]:.2f})
    · last seen {last_seen:%Y-%m-%d} · theme {tid}
    <span class="match" hidden></span></p>
  {f'<p class="keywords">{_text(keywords, 300)}</p>' if keywords else ""}
  <div class="cols">
    <figure class="trend-fig"><svg class="trend" data-theme-id="{tid}" role="img"
      viewBox="0 0 320 90" preserveAspectRatio="none"></svg>
      <figcaption class="trend-caption">items per day</figcaption></figure>
    <div class="mixes">{_mix("item types", data.types.get(tid, {}), "types")}
      {_mix("languages", data.languages.get(tid, {}), "langs")}</div>
  </div>
  <details class="why" open><summary>Why it ranks here</summary>{_breakdown(theme)}</details>
  <details class="quotes" open><summary>What customers say ({len(quotes)})</summary>
    <ul>{quote_list}</ul></details>
</article>"""


def _flag_lists(data: ReportData) -> str:
    out = []
    for flag in TREND_FLAGS:
        themes = [t for t in data.themes if t.get("trend") == flag]
        items = "".join(f'<li data-theme-id="{t["theme_id"]}"><a href="#theme-{t["theme_id"]}">'
                        f'#{t["rank"]} {_text(t["title"], 120)}</a> ({t["item_count"]})</li>'
                        for t in themes) or '<li class="none">none</li>'
        out.append(f'<section class="flag flag-{flag}"><h3>{flag.capitalize()} '
                   f'({len(themes)})</h3><p class="help">{_e(TREND_HELP[flag])}</p>'
                   f"<ul>{items}</ul></section>")
    return "".join(out)


def _shipped_html(data: ReportData) -> str:
    if not data.shipped:
        return ""
    items = []
    for s in data.shipped[:SHIPPED_MAX]:
        key = _link(s["jira_url"], _e(s["jira_key"]), trusted=True) if s["jira_key"] else "Jira"
        when = f" on {s['shipped_at']:%Y-%m-%d}" if s["shipped_at"] else ""
        threads = ", ".join(_link(th["url"], _text(th["title"] or th["url"], 80))
                            for th in s["threads"])
        items.append(f'<li data-theme-id="{s["theme_id"]}"><b>{_text(s["title"], 200)}</b> — '
                     f"{key} is Done{when} ({s['size'] or 0} items)"
                     + (f'<div class="threads">Reply to: {threads}</div>' if threads else "")
                     + "</li>")
    more = len(data.shipped) - SHIPPED_MAX
    if more > 0:
        items.append(f'<li class="none">…and {more} shipped earlier</li>')
    return (f'<section id="shipped"><h2>Shipped ({len(data.shipped)})</h2><p class="help">'
            "Themes whose Jira issue is Done, most recent first: tell the people who asked.</p>"
            f'<ul class="shipped-list">{"".join(items)}</ul></section>')


def _options(counts: dict[str, int], label: str) -> str:
    total = sum(counts.values())
    opts = [f'<option value="">all {label} ({total})</option>']
    opts += [f'<option value="{_e(k)}">{_e(k)} ({n})</option>'
             for k, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]
    return "".join(opts)


def _chart_data(data: ReportData) -> dict:
    days = [r[1] for r in data.rows]
    end = max(days) if days else data.generated_at.date()
    start = max(min(days) if days else end, end - timedelta(days=CHART_DAYS - 1))
    return {"start": start.isoformat(), "days": (end - start).days + 1,
            "rows": [[t, d.isoformat(), s, k, n] for t, d, s, k, n in data.rows]}


def _script_json(obj: object) -> str:
    # Inside <script>: "</script>" or "<!--" in a value must not end or comment out the block.
    return json_document(obj)


def _asset(name: str) -> str:
    return resources.files("feedback_pipeline.report").joinpath("templates", name).read_text("utf-8")


def render_report(data: ReportData) -> str:
    """The page as one HTML string (no external resources)."""
    sources: dict[str, int] = {}
    types: dict[str, int] = {}
    for _t, _d, source, item_type, n in data.rows:
        sources[source] = sources.get(source, 0) + n
        types[item_type] = types.get(item_type, 0) + n
    languages: dict[str, int] = {}
    for mix in data.languages.values():
        for lang, n in mix.items():
            languages[lang] = languages.get(lang, 0) + n
    shipped_ids = {s["theme_id"] for s in data.shipped}
    run = (f"run {_e(data.run_id)}" + (f" of {data.run_started:%Y-%m-%d %H:%M} UTC"
                                        if data.run_started else "")) if data.run_id else "no run"
    cards = "".join(_card(t, data, shipped_ids) for t in data.themes) or (
        '<p class="empty">No theme has enough distinct authors yet: nothing is ranked.</p>')
    body = f"""
<header class="top">
  <h1>Customer feedback themes</h1>
  <p class="meta">{run} · {len(data.themes)} of {data.ranked_total} ranked themes ·
    {sum(sources.values())} items in them · generated {data.generated_at:%Y-%m-%d %H:%M} UTC</p>
</header>
<nav class="filters" aria-label="filters">
  <label>Source <select id="filter-source">{_options(sources, "sources")}</select></label>
  <label>Item type <select id="filter-type">{_options(types, "types")}</select></label>
  <span id="shown-count" aria-live="polite">{len(data.themes)} of {len(data.themes)} themes
    shown</span>
</nav>
<main>
  <section id="overview"><h2>At a glance</h2><div class="flags">{_flag_lists(data)}</div>
    <div class="mixes overall">{_mix("item types (all shown themes)", types, "types")}
      {_mix("languages (all shown themes)", languages, "langs")}</div></section>
  {_shipped_html(data)}
  <section id="themes"><h2>Ranked themes</h2>
    <p class="help">Only themes with enough distinct authors are ranked. Score = sum of
      normalised components × weights (see each theme's breakdown).</p>{cards}</section>
</main>"""
    return Template(_asset("report.html")).substitute(
        title=_e(f"Customer feedback themes — {data.run_id or 'no run'}"), csp=CSP,
        style=_asset("report.css"), script=_asset("report.js"),
        data=_script_json(_chart_data(data)), body=body)


def write_report(con: duckdb.DuckDBPyConnection, output: Path, *, limit: int = 20,
                 jira_server: str = "") -> dict:
    """Write the page to ``output``; return what it holds ({themes, ranked, shipped, bytes})."""
    data = collect_report(con, limit=limit, jira_server=jira_server)
    html = render_report(data)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(html, encoding="utf-8")
    return {"themes": len(data.themes), "ranked": data.ranked_total,
            "shipped": len(data.shipped), "bytes": len(html.encode("utf-8"))}


__all__ = ["ReportData", "collect_report", "render_report", "write_report"]
