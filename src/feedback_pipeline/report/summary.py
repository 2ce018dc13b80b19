"""The top of the PM report: the sortable summary table (one row per ranked theme, linked to its
card), the new / rising / fading lists, and the shipped themes.

Each sortable cell carries its sort key in ``data-sort`` (numbers, or text); ``report.js`` sorts
the rows when a column's header button is pressed.
"""

from __future__ import annotations

from feedback_pipeline.embed.item_types import dominant_type
from feedback_pipeline.report.cards import TREND_HELP, e, link, text, trend_flag, trend_span
from feedback_pipeline.report.data import ReportData

SHIPPED_MAX = 20  # the most recently shipped; the heading counts them all
LIST_FLAGS = ("new", "rising", "fading")
# Sorting by trend puts what needs attention first: new, then rising, steady, fading.
TREND_ORDER = {"new": 0, "rising": 1, "steady": 2, "fading": 3}
# (key, heading, sort type, first direction): numbers that matter most when large sort down.
COLUMNS = (("rank", "Rank", "number", "ascending"), ("title", "Theme", "text", "ascending"),
           ("customers", "Customers", "number", "descending"),
           ("trend", "Trend", "number", "ascending"), ("type", "Type", "text", "ascending"),
           ("jira", "Jira", "text", "ascending"))


def type_share(counts: dict[str, int]) -> tuple[str, int]:
    """The item type most members have and its share in percent; ('mixed', share) on a tie,
    ('untyped', 0) when no member has a type."""
    kind, n, total = dominant_type(counts)
    if not total:
        return "untyped", 0
    return kind or "mixed", round(100 * n / total)


def _row(theme: dict, data: ReportData) -> str:
    tid = theme["theme_id"]
    kind, share = type_share(data.types.get(tid, {}))
    type_cell = (f"{e(kind)} <span class=\"share\">{share}%</span>" if kind not in
                 ("untyped", "mixed") else e(kind))
    key, url = data.jira.get(tid, (None, None))
    jira = link(url, e(key), trusted=True) if key else '<span class="none">not filed</span>'
    flag = trend_flag(theme)
    trend_key = TREND_ORDER.get(flag, len(TREND_ORDER)) * 1e6 - (theme.get("trend_recent") or 0)
    return (f'<tr data-theme-id="{tid}">'
            f'<td class="num" data-sort="{theme["rank"]}">{theme["rank"]}</td>'
            f'<td data-sort="{text(theme["title"], 200)}"><a href="#theme-{tid}">'
            f'{text(theme["title"], 200)}</a></td>'
            f'<td class="num" data-sort="{theme["distinct_authors"]}">'
            f'{theme["distinct_authors"]}</td>'
            f'<td data-sort="{trend_key:.0f}">{trend_span(theme)}</td>'
            f'<td data-sort="{e(kind)}">{type_cell}</td>'
            f'<td data-sort="{e(key or "")}">{jira}</td></tr>')


def summary_table(data: ReportData) -> str:
    """Every shown theme in one table, first on the page; '' when nothing is ranked."""
    if not data.themes:
        return ""
    heads = "".join(
        f'<th scope="col" data-key="{key}" data-sort-type="{kind}" data-first="{first}"'
        f' aria-sort="{"ascending" if key == "rank" else "none"}">'
        f'<button type="button">{label}<span class="arrow" aria-hidden="true"></span></button></th>'
        for key, label, kind, first in COLUMNS)
    rows = "".join(_row(t, data) for t in data.themes)
    return (f'<section id="summary"><h2>Summary</h2><p class="help">One row per ranked theme; '
            "press a column heading to sort, a title to open its card.</p>"
            f'<table class="summary"><thead><tr>{heads}</tr></thead><tbody>{rows}</tbody>'
            "</table></section>")


def flag_lists(data: ReportData) -> str:
    """A box per trend flag that has themes; one line when no theme has any of them."""
    out = []
    for flag in LIST_FLAGS:
        themes = [t for t in data.themes if trend_flag(t) == flag]
        if not themes:
            continue
        items = "".join(f'<li data-theme-id="{t["theme_id"]}"><a href="#theme-{t["theme_id"]}">'
                        f'#{t["rank"]} {text(t["title"], 120)}</a> ({t["item_count"]})</li>'
                        for t in themes)
        out.append(f'<section class="flag flag-{flag}"><h3>{flag.capitalize()} '
                   f'({len(themes)})</h3><p class="help">{e(TREND_HELP[flag])}</p>'
                   f"<ul>{items}</ul></section>")
    if not out:
        return '<p class="help flags-none">No shown theme is new, rising or fading.</p>'
    return f'<div class="flags">{"".join(out)}</div>'


def shipped_section(data: ReportData) -> str:
    """Themes whose Jira issue is Done, with the community threads to reply to; '' if none."""
    if not data.shipped:
        return ""
    items = []
    for s in data.shipped[:SHIPPED_MAX]:
        key = link(s["jira_url"], e(s["jira_key"]), trusted=True) if s["jira_key"] else "Jira"
        when = f" on {s['shipped_at']:%Y-%m-%d}" if s["shipped_at"] else ""
        threads = ", ".join(link(th["url"], text(th["title"] or th["url"], 80))
                            for th in s["threads"])
        items.append(f'<li data-theme-id="{s["theme_id"]}"><b>{text(s["title"], 200)}</b> — '
                     f"{key} is Done{when} ({s['size'] or 0} items)"
                     + (f'<div class="threads">Reply to: {threads}</div>' if threads else "")
                     + "</li>")
    more = len(data.shipped) - SHIPPED_MAX
    if more > 0:
        items.append(f'<li class="none">…and {more} shipped earlier</li>')
    return (f'<section id="shipped"><h2>Shipped ({len(data.shipped)})</h2><p class="help">'
            "Themes whose Jira issue is Done, most recent first: tell the people who asked.</p>"
            f'<ul class="shipped-list">{"".join(items)}</ul></section>')


__all__ = ["COLUMNS", "flag_lists", "shipped_section", "summary_table", "type_share"]
