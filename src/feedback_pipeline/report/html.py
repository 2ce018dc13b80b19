"""The PM report: one self-contained HTML page built from the warehouse.

``feedback-pipeline report`` writes it. The page shows the stored ranking of the latest run (so
only themes that passed the ranking's distinct-authors rule appear): first a sortable summary
table (rank, title, customers, trend, item type, Jira key; each title links to its theme's card,
``#theme-<id>``), then the new / rising / fading lists, themes whose Jira issue is Done
("shipped"), and one card per theme with its trend chart (items per day, dated axes), item-type
and language mix, quotes with links, and its score breakdown (collapsed). Two filters (source,
item type) hide the themes and quotes that do not match and redraw the charts. Sections with
nothing to show are left out or say so in one line.

Self-contained: CSS and JavaScript (``templates/``) are inlined, the charts are SVG drawn by the
inline script from a JSON block, and a Content-Security-Policy forbids loading anything else.
Customer text goes through :func:`feedback_pipeline.redact.redact` and is HTML-escaped; links
go through :func:`feedback_pipeline.deliver.jira.render.safe_url`, as in Jira. What the page
reads: ``data.py``; a theme's card: ``cards.py``; the top of the page: ``summary.py``.
"""

from __future__ import annotations

from datetime import timedelta
from importlib import resources
from pathlib import Path
from string import Template

import duckdb

from feedback_pipeline.markup import json_document
from feedback_pipeline.report.cards import card, e, mix
from feedback_pipeline.report.data import ReportData, collect_report
from feedback_pipeline.rank.pulse import PulseConfig
from feedback_pipeline.report.pulse_section import pulse_section, report_pulse
from feedback_pipeline.report.summary import flag_lists, shipped_section, summary_table
from feedback_pipeline.report.value import filtered

CHART_DAYS = 90  # the trend charts show at most the last 90 days with items
# Nothing may be loaded from anywhere: the page works from a file, offline, in an e-mail.
CSP = ("default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; "
       "base-uri 'none'; form-action 'none'")


def _options(counts: dict[str, int], label: str) -> str:
    total = sum(counts.values())
    opts = [f'<option value="">all {label} ({total})</option>']
    opts += [f'<option value="{e(k)}">{e(k)} ({n})</option>'
             for k, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]
    return "".join(opts)


def _chart_data(data: ReportData) -> dict:
    days = [r[1] for r in data.rows]
    end = max(days) if days else data.generated_at.date()
    start = max(min(days) if days else end, end - timedelta(days=CHART_DAYS - 1))
    return {"start": start.isoformat(), "days": (end - start).days + 1,
            "rows": [[t, d.isoformat(), s, k, n] for t, d, s, k, n in data.rows]}


def _asset(name: str) -> str:
    templates = resources.files("feedback_pipeline.report").joinpath("templates")
    return templates.joinpath(name).read_text("utf-8")


def _overview(data: ReportData, types: dict[str, int], languages: dict[str, int]) -> str:
    mixes = (mix("item types (all shown themes)", types, "types")
             + mix("languages (all shown themes)", languages, "langs"))
    return (f'<section id="overview"><h2>At a glance</h2>{flag_lists(data)}'
            + (f'<div class="mixes overall">{mixes}</div>' if mixes else "") + "</section>")


def render_report(data: ReportData) -> str:
    """The page as one HTML string (no external resources)."""
    sources: dict[str, int] = {}
    types: dict[str, int] = {}
    for _t, _d, source, item_type, n in data.rows:
        sources[source] = sources.get(source, 0) + n
        types[item_type] = types.get(item_type, 0) + n
    languages: dict[str, int] = {}
    for counts in data.languages.values():
        for lang, n in counts.items():
            languages[lang] = languages.get(lang, 0) + n
    shipped_ids = {s["theme_id"] for s in data.shipped}
    run = (f"run {e(data.run_id)}" + (f" of {data.run_started:%Y-%m-%d %H:%M} UTC"
                                       if data.run_started else "")) if data.run_id else "no run"
    if data.themes:
        themes = ('<section id="themes"><h2>Ranked themes</h2><p class="help">Only themes with '
                  "enough distinct authors are ranked. Score = sum of normalised components × "
                  "weights (each theme's breakdown is under “Why it ranks here”).</p>"
                  + "".join(card(t, data, shipped_ids) for t in data.themes) + "</section>")
        filters = f"""
<nav class="filters" aria-label="filters">
  <label>Source <select id="filter-source">{_options(sources, "sources")}</select></label>
  <label>Item type <select id="filter-type">{_options(types, "types")}</select></label>
  <span id="shown-count" aria-live="polite">{len(data.themes)} of {len(data.themes)} themes
    shown</span>
</nav>"""
        overview = _overview(data, types, languages)
    else:
        themes = ('<p class="empty">No theme has enough distinct authors yet: nothing is '
                  "ranked.</p>")
        filters = overview = ""
    body = f"""
<header class="top">
  <h1>Customer feedback themes</h1>
  <p class="meta">{run} · {len(data.themes)} of {data.ranked_total} ranked themes{filtered(data)} ·
    {sum(sources.values())} items in them · generated {data.generated_at:%Y-%m-%d %H:%M} UTC</p>
</header>{filters}
<main>
  {summary_table(data)}
  {overview}
  {shipped_section(data)}
  {pulse_section(data.pulse)}
  {themes}
</main>"""
    return Template(_asset("report.html")).substitute(
        title=e(f"Customer feedback themes — {data.run_id or 'no run'}"), csp=CSP,
        style=_asset("report.css"), script=_asset("report.js"),
        data=json_document(_chart_data(data)), body=body)


def write_report(con: duckdb.DuckDBPyConnection, output: Path, *, limit: int = 20,
                 jira_server: str = "", segments: list[str] | None = None,
                 plans: list[str] | None = None, pulse: PulseConfig | None = None) -> dict:
    """Write the page to ``output``; return what it holds ({themes, ranked, shipped, bytes}).
    ``segments``/``plans``: only themes asked for by such accounts (``rank.value``)."""
    data = collect_report(con, limit=limit, jira_server=jira_server, segments=segments,
                          plans=plans)
    data.pulse = report_pulse(con, pulse or PulseConfig())
    html = render_report(data)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(html, encoding="utf-8")
    return {"themes": len(data.themes), "ranked": data.ranked_total,
            "shipped": len(data.shipped), "bytes": len(html.encode("utf-8"))}


__all__ = ["ReportData", "collect_report", "render_report", "write_report"]
