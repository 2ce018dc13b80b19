"""Human-readable views of a ranking: terminal table, markdown (Prefect artifact), JSON, CSV."""

from __future__ import annotations

import json

from feedback_pipeline.markup import clean, csv_rows, json_document, json_text, markdown_text
from feedback_pipeline.rank.trends import trend_phrase
from feedback_pipeline.redact import safe_link_url

TITLE_MAX, KEYWORD_MAX, QUOTE_MAX, ID_MAX = 300, 80, 2_000, 120

COLUMNS = ("rank", "theme_id", "score", "item_count", "distinct_authors", "support_share",
           "growth", "title")


def _public(theme: dict) -> dict:
    quotes = json.loads(theme["quotes"]) if isinstance(theme["quotes"], str) else theme["quotes"]
    breakdown = (json.loads(theme["breakdown"]) if isinstance(theme["breakdown"], str)
                 else theme["breakdown"])
    return {
        **{k: theme[k] for k in COLUMNS},
        "title": json_text(theme["title"], TITLE_MAX),
        "keywords": [json_text(k, KEYWORD_MAX) for k in theme["keywords"] or []],
        "votes": theme["votes"],
        "recent_count": theme["recent_count"],
        "previous_count": theme["previous_count"],
        # The one trend wording (rank.trends.trend_phrase), as in Slack, Jira and the report.
        "trend": theme.get("trend") or "steady",
        "trend_phrase": trend_phrase(theme),
        "last_seen": theme["last_seen"].isoformat() if theme["last_seen"] else None,
        "breakdown": breakdown,
        "quotes": [_public_quote(q) for q in quotes or []],
        # customer value (rank.value): over the segment/plan filter when one is applied
        "accounts_affected": theme.get("accounts_affected") or 0,
        "arr_at_stake": float(theme.get("arr_at_stake") or 0),
        **({"filtered_by": theme["filtered_by"]} if theme.get("filtered_by") else {}),
    }


def _public_quote(quote: dict) -> dict:
    """Every string of a quote redacted and bounded (source and id too); the link as in Jira."""
    out = {k: json_text(v, QUOTE_MAX if k == "text" else ID_MAX) if isinstance(v, str) else v
           for k, v in quote.items()}
    out["url"] = safe_link_url(quote.get("url"))
    return out


def ranking_json(ranking: list[dict]) -> str:
    return json_document([_public(t) for t in ranking], indent=2)


def ranking_csv(ranking: list[dict]) -> str:
    """The ranking as CSV; cells that would start a formula are neutralised (``markup``)."""
    rows = [[*COLUMNS, "trend", "keywords", "why", "accounts_affected", "arr_at_stake"]]
    for t in ranking:
        p = _public(t)
        rows.append([*(p[k] for k in COLUMNS), p["trend_phrase"], "; ".join(p["keywords"]),
                     explain(p["breakdown"]), p["accounts_affected"], p["arr_at_stake"]])
    return csv_rows(rows)


def explain(breakdown: dict) -> str:
    """'authors 1.50 + volume 0.98 + ...' largest contributions first."""
    parts = sorted(breakdown.items(), key=lambda kv: -kv[1]["points"])
    return " + ".join(f"{name} {c['points']:.2f}" for name, c in parts if c["points"] > 0)


def ranking_table(ranking: list[dict], width: int = 70) -> str:
    lines = [f"{'#':>3} {'id':>4} {'score':>6} {'items':>5} {'cust':>4} {'supp%':>5}  title"]
    for t in ranking:
        p = _public(t)
        title = p["title"] if len(p["title"]) <= width else p["title"][: width - 1] + "…"
        if t.get("needs_review"):
            title = f"[needs review] {title}"
        lines.append(f"{p['rank']:>3} {p['theme_id']:>4} {p['score']:>6.2f} {p['item_count']:>5} "
                     f"{p['distinct_authors']:>4} {100 * p['support_share']:>5.0f}  {title}")
        lines.append(f"{'':>26}trend: {p['trend_phrase']}")
        lines.append(f"{'':>26}why: {explain(p['breakdown'])}")
        if p["accounts_affected"]:
            lines.append(f"{'':>26}value: {p['accounts_affected']} account"
                         f"{'' if p['accounts_affected'] == 1 else 's'}, "
                         f"ARR at stake {p['arr_at_stake']:,.0f}")
        if t.get("sentence") and t["sentence"] != t["title"]:
            lines.append(f"{'':>26}e.g.: {clean(t['sentence'], TITLE_MAX)}")
        if p["keywords"]:
            lines.append(f"{'':>26}keywords: {', '.join(p['keywords'][:6])}")
    return "\n".join(lines)


def theme_detail(con, theme_id: int) -> str:
    """A theme's full story for the terminal (PII-redacted)."""
    from feedback_pipeline.errors import FeedbackPipelineError
    from feedback_pipeline.rank.score import latest_ranking
    from feedback_pipeline.rank.trends import daily_counts
    from feedback_pipeline.rank.value import theme_values
    from feedback_pipeline.report.value import value_text

    row = con.execute("SELECT title, status, keywords, quotes, size, first_seen, last_seen, "
                      "merged_into FROM themes WHERE theme_id = ?", [theme_id]).fetchone()
    if row is None:
        raise FeedbackPipelineError(f"there is no theme {theme_id}")
    title, status, keywords, quotes, size, first, last, merged_into = row
    lines = [f"theme {theme_id}: {clean(title, TITLE_MAX)}",
             f"status: {status}" + (f" (merged into {merged_into})" if merged_into else ""),
             f"items: {size}  first seen: {first:%Y-%m-%d}  last seen: {last:%Y-%m-%d}"
             if first else f"items: {size}",
             f"keywords: {', '.join(clean(k, KEYWORD_MAX) for k in keywords or [])}"]
    ranked = next((t for t in latest_ranking(con) if t["theme_id"] == theme_id), None)
    if ranked:
        p = _public(ranked)
        lines.append(f"rank {p['rank']}, score {p['score']:.2f}, trend {p['trend_phrase']}")
        for name, c in sorted(p["breakdown"].items(), key=lambda kv: -kv[1]["points"]):
            lines.append(f"  {name:<14} value {c['value']!s:<8} normalised {c['normalized']:.2f}"
                         f" x weight {c['weight']} = {c['points']:.2f}")
            if c.get("reason"):
                lines.append(f"  {'':<14} ({c['reason']})")
        lines += value_text(theme_values(con, ranked["run_id"]).get(theme_id))
    mix = type_mix(con, theme_id, ranked)
    if mix:
        lines.append(format_type_mix(mix))
    counts = daily_counts(con, theme_id)
    if counts:
        lines.append("items per day: " + ", ".join(f"{d:%m-%d}:{n}" for d, n in counts[-21:]))
    for q in json.loads(quotes) if quotes else []:
        lines.append(f'  "{clean(q["text"], 200)[:200]}"  {safe_link_url(q.get("url")) or ""}')
    events = con.execute("SELECT happened_at, event, other_theme, detail FROM theme_events "
                         "WHERE theme_id = ? OR other_theme = ? ORDER BY happened_at",
                         [theme_id, theme_id]).fetchall()
    for at, event, other, detail in events:
        lines.append(f"  {at:%Y-%m-%d %H:%M} {event}" + (f" {other}" if other else "")
                     + (f" ({detail})" if detail else ""))
    return "\n".join(lines)


def type_mix(con, theme_id: int, ranked: dict | None = None) -> dict[str, int]:
    """Members per item type: as stored with the ranking, else counted from the current members."""
    stored = (ranked or {}).get("type_mix")
    if stored:
        return json.loads(stored) if isinstance(stored, str) else dict(stored)
    rows = con.execute("SELECT coalesce(i.item_type, 'untyped'), count(*) FROM item_themes t "
                       "JOIN items i USING (source, external_id) WHERE t.theme_id = ? "
                       "AND NOT i.deleted AND i.drop_reason IS NULL GROUP BY 1",
                       [theme_id]).fetchall()
    return dict(rows)


def format_type_mix(mix: dict[str, int]) -> str:
    """'types: request 60% (12), problem 30% (6), ...' largest first, empty types left out."""
    total = sum(mix.values())
    parts = [f"{name} {100 * n / total:.0f}% ({n})"
             for name, n in sorted(mix.items(), key=lambda kv: -kv[1]) if n]
    return "types: " + ", ".join(parts) if total else "types: none"


def ranking_markdown(ranking: list[dict]) -> str:
    rows = ["| # | theme | score | items | customers | support | trend | why | keywords |",
            "|---|---|---|---|---|---|---|---|---|"]
    for t in ranking:
        p = _public(t)
        title = markdown_text(t["title"], TITLE_MAX)
        keywords = ", ".join(markdown_text(k, KEYWORD_MAX) for k in (t["keywords"] or [])[:5])
        rows.append(f"| {p['rank']} | {title} (#{p['theme_id']}) | {p['score']:.2f} | "
                    f"{p['item_count']} | {p['distinct_authors']} | "
                    f"{100 * p['support_share']:.0f}% | {p['trend_phrase']} | "
                    f"{explain(p['breakdown'])} | {keywords} |")
    if not ranking:
        rows.append("| – | no theme has enough distinct customers yet | | | | | | | |")
    return "\n".join(rows)


__all__ = ["explain", "format_type_mix", "ranking_csv", "ranking_json", "ranking_markdown",
           "ranking_table", "type_mix"]
