"""What the PM report shows, read from the warehouse: the latest stored ranking and its evidence
(members per day, source and item type; quotes; language and type mixes; Jira links; shipped
themes). Only reads; works on a read-only connection. ``html.py`` renders it."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

import duckdb

from feedback_pipeline.deliver.slack.queries import community_threads, jira_links
from feedback_pipeline.errors import WarehouseError
from feedback_pipeline.markup import clean
from feedback_pipeline.rank.score import latest_ranking
from feedback_pipeline.rank.value import filter_by_accounts, theme_values
from feedback_pipeline.report.terminal import type_mix
from feedback_pipeline.warehouse import db

THREADS_PER_SHIPPED = 5
SOURCE_MAX = 60


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
    value: dict[int, dict] = field(default_factory=dict)  # rank.value.theme_values of the run
    filtered_by: str = ""  # the segment/plan filter, worded; "" without one
    # (per week, per night) community pulse (``report.pulse_section``); None: no thread data
    pulse: tuple | None = None


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


def collect_report(con: duckdb.DuckDBPyConnection, *, limit: int = 20, jira_server: str = "",
                   segments: list[str] | None = None,
                   plans: list[str] | None = None) -> ReportData:
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
    ranking = filter_by_accounts(con, latest_ranking(con), segments=segments, plans=plans)
    data = ReportData(generated_at=datetime.now(UTC), ranked_total=len(ranking),
                      themes=ranking[:limit],
                      filtered_by=ranking[0].get("filtered_by", "") if ranking else "")
    links = jira_links(con, jira_server)
    data.shipped = _shipped(con, tables, links)
    if not data.themes:
        return data
    data.run_id = data.themes[0]["run_id"]
    row = con.execute("SELECT started_at FROM runs WHERE run_id = ?", [data.run_id]).fetchone()
    data.run_started = row[0] if row else None
    ids = [int(t["theme_id"]) for t in data.themes]
    data.rows = [(t, d, source_name(s), k, n) for t, d, s, k, n in _member_rows(con, ids)]
    data.languages = _languages(con, ids)
    data.types = {t["theme_id"]: type_mix(con, t["theme_id"], t) for t in data.themes}
    data.quotes = _quotes(con, data.themes)
    data.jira = {i: links[i] for i in ids if i in links}
    data.value = theme_values(con, data.run_id) if "theme_value" in tables else {}
    return data


def source_name(source: object) -> str:
    """A source name as the filters, the chart data and the quotes all show it (redacted,
    bounded: file records name their own source)."""
    return clean(source, SOURCE_MAX)[:SOURCE_MAX]


__all__ = ["ReportData", "collect_report", "source_name"]
