"""The Jira sink's warehouse side: mapping rows, outbox rows, decisions, evidence queries."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

import duckdb

from feedback_pipeline.deliver.jira.render import ThemeEvidence
from feedback_pipeline.warehouse.db import rows_as_dicts


@dataclass
class IssueRow:
    theme_id: int
    issue_key: str
    origin: str
    last_summary: str | None = None
    last_priority: str | None = None
    last_assignee: str | None = None
    evidence_hash: str | None = None
    baseline_items: int = 0
    baseline_sources: list[str] | None = None
    jira_state: str = "open"
    resolved_at: datetime | None = None
    resurge_comment_for: datetime | None = None


_COLS = [f for f in IssueRow.__dataclass_fields__]


def load_issues(con: duckdb.DuckDBPyConnection) -> dict[int, IssueRow]:
    cur = con.execute(f"SELECT {', '.join(_COLS)} FROM jira_issues")
    return {r["theme_id"]: IssueRow(**r) for r in rows_as_dicts(cur)}


def save_issue(con: duckdb.DuckDBPyConnection, row: IssueRow, *, project: str,
               run_id: str) -> None:
    values = [getattr(row, c) for c in _COLS]
    updates = ", ".join(f"{c} = excluded.{c}" for c in _COLS if c != "theme_id")
    con.execute(
        f"INSERT INTO jira_issues ({', '.join(_COLS)}, project, created_run, updated_run) "
        f"VALUES ({', '.join('?' * (len(_COLS) + 3))}) ON CONFLICT (theme_id) DO UPDATE SET "
        f"{updates}, project = excluded.project, updated_run = excluded.updated_run, "
        "updated_at = now()",
        [*values, project, run_id, run_id],
    )


def log_event(con: duckdb.DuckDBPyConnection, *, run_id: str, theme_id: int,
              issue_key: str | None, event: str, detail: str = "") -> None:
    con.execute("INSERT INTO jira_events (run_id, theme_id, issue_key, event, detail) "
                "VALUES (?, ?, ?, ?, ?)", [run_id, theme_id, issue_key, event, detail])


def record_match(con: duckdb.DuckDBPyConnection, *, run_id: str, theme_id: int,
                 issue_key: str | None, similarity: float | None, threshold: float,
                 decision: str) -> None:
    con.execute(
        "INSERT OR REPLACE INTO jira_backlog_matches (run_id, theme_id, issue_key, similarity, "
        "threshold, decision) VALUES (?, ?, ?, ?, ?, ?)",
        [run_id, theme_id, issue_key, similarity, threshold, decision])


def theme_evidence(con: duckdb.DuckDBPyConnection, theme_id: int, *, as_of: datetime,
                   weeks: int = 8, links: int = 10) -> ThemeEvidence:
    """Weekly counts, sources, languages and newest source links of a theme's live items."""
    members = """
        FROM item_themes t JOIN items i USING (source, external_id)
        WHERE t.theme_id = $theme AND NOT i.deleted AND i.drop_reason IS NULL
          AND i.created_at <= $as_of
    """
    p = {"theme": theme_id, "as_of": as_of}
    weekly = con.execute(
        f"SELECT date_trunc('week', i.created_at AT TIME ZONE 'UTC') AS wk, count(*) {members} "
        f"AND i.created_at > $as_of - to_days({7 * weeks}) GROUP BY wk ORDER BY wk", p).fetchall()
    sources = con.execute(f"SELECT i.source, count(*) n {members} GROUP BY 1 ORDER BY n DESC, 1",
                          p).fetchall()
    langs = con.execute(f"SELECT i.language, count(*) n {members} AND i.language IS NOT NULL "
                        "GROUP BY 1 ORDER BY n DESC, 1", p).fetchall()
    link_rows = con.execute(
        f"SELECT coalesce(nullif(i.title, ''), left(i.clean_text, 80)), i.url {members} "
        f"AND i.url IS NOT NULL ORDER BY i.created_at DESC, i.url LIMIT {int(links)}", p).fetchall()
    return ThemeEvidence(weekly=[(w, n) for w, n in weekly], sources=dict(sources),
                         languages=dict(langs), links=[(t or u, u) for t, u in link_rows])


def items_since(con: duckdb.DuckDBPyConnection, theme_id: int, since: datetime,
                as_of: datetime) -> int:
    row = con.execute(
        "SELECT count(*) FROM item_themes t JOIN items i USING (source, external_id) "
        "WHERE t.theme_id = ? AND NOT i.deleted AND i.drop_reason IS NULL "
        "AND i.created_at > ? AND i.created_at <= ?", [theme_id, since, as_of]).fetchone()
    return int(row[0]) if row else 0


def theme_text(theme: dict) -> str:
    """What a theme 'says', for matching against backlog issues: title, keywords, quotes."""
    quotes = json.loads(theme["quotes"]) if isinstance(theme["quotes"], str) else theme["quotes"]
    parts = [theme["title"], ", ".join(theme["keywords"] or [])]
    parts += [q["text"] for q in (quotes or [])[:5]]
    return ". ".join(p for p in parts if p)


def newest_items(con: duckdb.DuckDBPyConnection, theme_id: int, since: datetime,
                 as_of: datetime, limit: int = 5) -> list[tuple[str, str | None]]:
    """(text, url) of the newest live items of a theme after ``since`` (resurgence evidence)."""
    return con.execute(
        "SELECT coalesce(i.clean_text, i.title, ''), i.url FROM item_themes t "
        "JOIN items i USING (source, external_id) WHERE t.theme_id = ? AND NOT i.deleted "
        "AND i.drop_reason IS NULL AND i.created_at > ? AND i.created_at <= ? "
        "ORDER BY i.created_at DESC LIMIT ?", [theme_id, since, as_of, limit]).fetchall()


LINEAGE_EVENTS = ("merged_into", "split_from", "faded", "revived")


@dataclass
class LineageEvent:
    """One ``theme_events`` row the Jira sink follows, with what was done about it so far."""

    run_id: str
    theme_id: int
    event: str
    other_theme: int  # -1: none
    detail: str
    happened_at: datetime
    status: str | None = None  # None: never looked at
    action: str | None = None
    issue_key: str | None = None
    other_key: str | None = None

    @property
    def outbox_key(self) -> str:
        return f"jira:lineage:{self.event}:{self.theme_id}:{self.other_theme}:{self.run_id}"


def pending_lineage(con: duckdb.DuckDBPyConnection) -> list[LineageEvent]:
    """Lineage events not yet done or skipped, oldest first."""
    cur = con.execute(
        """
        SELECT coalesce(e.run_id, '') AS run_id, e.theme_id, e.event,
               coalesce(e.other_theme, -1) AS other_theme, coalesce(any_value(e.detail), '')
               AS detail, min(e.happened_at) AS happened_at, any_value(l.status) AS status,
               any_value(l.action) AS action, any_value(l.issue_key) AS issue_key,
               any_value(l.other_key) AS other_key
        FROM theme_events e
        LEFT JOIN jira_lineage l ON l.run_id = coalesce(e.run_id, '')
             AND l.theme_id = e.theme_id AND l.event = e.event
             AND l.other_theme = coalesce(e.other_theme, -1)
        WHERE list_contains(?, e.event)
          AND (l.status IS NULL OR l.status IN ('pending', 'waiting', 'failed'))
        GROUP BY ALL ORDER BY min(e.happened_at), e.theme_id, e.event
        """, [list(LINEAGE_EVENTS)])
    return [LineageEvent(**r) for r in rows_as_dicts(cur)]


def save_lineage(con: duckdb.DuckDBPyConnection, ev: LineageEvent, *, status: str,
                 run_id: str, detail: str = "") -> None:
    ev.status = status
    con.execute(
        """
        INSERT INTO jira_lineage (run_id, theme_id, event, other_theme, action, issue_key,
                                  other_key, status, detail, handled_run)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
        ON CONFLICT (run_id, theme_id, event, other_theme) DO UPDATE SET
            action = excluded.action, issue_key = excluded.issue_key,
            other_key = excluded.other_key, status = excluded.status, detail = excluded.detail,
            handled_run = excluded.handled_run, updated_at = now()
        """,
        [ev.run_id, ev.theme_id, ev.event, ev.other_theme, ev.action, ev.issue_key,
         ev.other_key, status, detail, run_id])


def lineage_done_before(con: duckdb.DuckDBPyConnection, ev: LineageEvent) -> bool:
    """Whether the same merge or split (same two themes) was already followed in Jira."""
    row = con.execute(
        "SELECT count(*) FROM jira_lineage WHERE theme_id = ? AND event = ? AND other_theme = ? "
        "AND status = 'done' AND run_id <> ?",
        [ev.theme_id, ev.event, ev.other_theme, ev.run_id]).fetchone()
    return bool(row and row[0])


def last_announced(con: duckdb.DuckDBPyConnection, theme_id: int) -> str | None:
    """'faded' or 'revived': the last fade/revival of the theme that got its comment."""
    row = con.execute(
        "SELECT event FROM jira_lineage WHERE theme_id = ? AND status = 'done' "
        "AND event IN ('faded', 'revived') ORDER BY updated_at DESC LIMIT 1",
        [theme_id]).fetchone()
    return row[0] if row else None


def issue_created_at(con: duckdb.DuckDBPyConnection, theme_id: int) -> datetime | None:
    row = con.execute("SELECT created_at FROM jira_issues WHERE theme_id = ?",
                      [theme_id]).fetchone()
    return row[0] if row else None


def theme_facts(con: duckdb.DuckDBPyConnection, theme_id: int, as_of: datetime) -> dict:
    """Title, status, live report count and newest report of a theme (for lineage comments)."""
    row = con.execute("SELECT title, status FROM themes WHERE theme_id = ?",
                      [theme_id]).fetchone()
    reports, last = con.execute(
        "SELECT count(*), max(i.created_at) FROM item_themes t JOIN items i "
        "USING (source, external_id) WHERE t.theme_id = ? AND NOT i.deleted "
        "AND i.drop_reason IS NULL AND i.created_at <= ?", [theme_id, as_of]).fetchone()
    return {"theme_id": theme_id, "title": row[0] if row else f"theme {theme_id}",
            "status": row[1] if row else None, "reports": int(reports), "last_seen": last}


def move_issue(con: duckdb.DuckDBPyConnection, *, from_theme: int, to_theme: int,
               baseline_items: int, baseline_sources: list[str], run_id: str) -> None:
    """Give ``from_theme``'s issue to ``to_theme`` (a merge into a theme without one).

    The row keeps its history (origin, what we last set, created_at); the baseline for the
    significant-change comment restarts at the merged theme's size.
    """
    cols = [c for c in _COLS if c not in ("theme_id", "baseline_items", "baseline_sources")]
    con.execute(
        f"INSERT INTO jira_issues (theme_id, baseline_items, baseline_sources, {', '.join(cols)}, "
        "project, created_run, updated_run, created_at, updated_at) "
        f"SELECT ?, ?, ?, {', '.join(cols)}, project, created_run, ?, created_at, now() "
        "FROM jira_issues WHERE theme_id = ?",
        [to_theme, baseline_items, baseline_sources, run_id, from_theme])
    con.execute("DELETE FROM jira_issues WHERE theme_id = ?", [from_theme])


__all__ = [
    "LINEAGE_EVENTS", "IssueRow", "LineageEvent", "issue_created_at", "items_since",
    "last_announced", "lineage_done_before",
    "load_issues", "log_event", "move_issue", "newest_items", "pending_lineage", "record_match",
    "save_issue", "save_lineage", "theme_evidence", "theme_facts", "theme_text",
]
