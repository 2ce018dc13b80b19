"""The warehouse side of the Slack digest: what it needs besides the ranking, and what it shipped.

Split from ``digest.py`` so that rendering the digest (Block Kit, limits, preview) stays pure and
testable without a warehouse; everything that reads or writes DuckDB for the digest lives here:
Jira links, the previous digest, new and shipped themes with their community threads
(``digest_context``), and the ``slack_shipped`` table (``mark_shipped``, ``announce_shipped``,
``sync_shipped_from_jira``).
"""

from __future__ import annotations

from datetime import datetime

import duckdb

from feedback_pipeline.deliver.slack.config import SlackConfig
from feedback_pipeline.deliver.slack.digest import DigestContext, digest_key, slack_digest
from feedback_pipeline.warehouse.db import columns


def jira_links(con: duckdb.DuckDBPyConnection,
               jira_server: str = "") -> dict[int, tuple[str, str | None]]:
    """Theme id -> (Jira key, browse URL) from live Jira deliveries or a ``jira_issues`` table."""
    links: dict[int, str] = dict(con.execute(
        "SELECT theme_id, external_ref FROM deliveries WHERE sink = 'jira' "
        "AND theme_id IS NOT NULL AND external_ref IS NOT NULL AND status <> 'dry_run'"
    ).fetchall())
    cols = columns(con, "jira_issues")
    key_col = next((c for c in ("issue_key", "jira_key", "key") if c in cols), None)
    if "theme_id" in cols and key_col:
        links.update(con.execute(f'SELECT theme_id, "{key_col}" FROM jira_issues '
                                 f'WHERE "{key_col}" IS NOT NULL').fetchall())
    base = jira_server.rstrip("/")
    return {t: (k, f"{base}/browse/{k}" if base else None) for t, k in links.items()}


def previous_digest(con: duckdb.DuckDBPyConnection, key: str) -> tuple[str, str | None] | None:
    """(key, run_id) of the last digest before ``key`` that was sent or recorded as dry run."""
    row = con.execute(
        "SELECT delivery_key, run_id FROM deliveries WHERE sink = 'slack' AND delivery_key < ? "
        "AND status IN ('sent', 'dry_run', 'skipped') ORDER BY delivery_key DESC LIMIT 1",
        [key]).fetchone()
    return (row[0], row[1]) if row else None


def community_threads(con: duckdb.DuckDBPyConnection, theme_id: int, limit: int) -> list[dict]:
    """The community threads of a theme (most voted first): the places to answer."""
    rows = con.execute(
        """
        SELECT i.url, coalesce(nullif(i.title, ''), left(i.body, 80)) AS title
        FROM item_themes t JOIN items i USING (source, external_id)
        WHERE t.theme_id = ? AND i.kind = 'community_post' AND i.url IS NOT NULL AND NOT i.deleted
        ORDER BY i.votes DESC NULLS LAST, i.created_at DESC, i.external_id LIMIT ?
        """, [theme_id, limit]).fetchall()
    return [{"url": u, "title": t} for u, t in rows]


def digest_context(con: duckdb.DuckDBPyConnection, *, as_of: datetime, run_id: str,
                   config: SlackConfig, jira_server: str = "") -> DigestContext:
    """Read new themes (since the previous digest), shipped themes and Jira links."""
    key = digest_key(as_of)
    prev = previous_digest(con, key)
    if prev and prev[1]:
        new_ids = [r[0] for r in con.execute(
            """
            SELECT e.theme_id FROM theme_events e JOIN runs r USING (run_id)
            WHERE e.event = 'created'
              AND r.started_at > (SELECT started_at FROM runs WHERE run_id = ?)
              AND r.started_at <= coalesce((SELECT started_at FROM runs WHERE run_id = ?),
                                           'infinity'::TIMESTAMPTZ)
            ORDER BY e.happened_at, e.theme_id
            """, [prev[1], run_id]).fetchall()]
    else:  # the first digest: every theme is new, the top list says it all
        new_ids = []
    links = jira_links(con, jira_server)
    shipped = []
    for theme_id, jira_key, shipped_at, title in con.execute(
        """
        SELECT s.theme_id, s.jira_key, s.shipped_at, coalesce(t.title, 'theme ' || s.theme_id)
        FROM slack_shipped s LEFT JOIN themes t USING (theme_id)
        WHERE s.announced_in IS NULL OR s.announced_in = ? OR s.announced_in NOT IN (
            SELECT delivery_key FROM deliveries WHERE status IN ('sent', 'dry_run', 'skipped'))
        ORDER BY s.shipped_at, s.theme_id
        """, [key]).fetchall():
        jira_key = jira_key or links.get(theme_id, (None, None))[0]
        url = links.get(theme_id, (None, None))[1] if jira_key else None
        if jira_key and not url and jira_server:
            url = f"{jira_server.rstrip('/')}/browse/{jira_key}"
        shipped.append({"theme_id": theme_id, "title": title, "jira_key": jira_key,
                        "jira_url": url, "shipped_at": shipped_at,
                        "threads": community_threads(con, theme_id, config.threads_per_theme)})
    return DigestContext(new_theme_ids=new_ids, shipped=shipped[: config.shipped_n], jira=links,
                         previous_date=prev[0].rsplit(":", 1)[-1] if prev else None)


def mark_shipped(con: duckdb.DuckDBPyConnection, theme_id: int, at: datetime, *,
                 jira_key: str | None = None) -> None:
    """Record that a theme's Jira issue reached Done at ``at``: the next digest lists it once.

    Marking it again with a later time (reopened, then done again) lists it again.
    """
    con.execute(
        """
        INSERT INTO slack_shipped (theme_id, jira_key, shipped_at) VALUES (?, ?, ?)
        ON CONFLICT (theme_id) DO UPDATE SET
            jira_key = coalesce(excluded.jira_key, slack_shipped.jira_key),
            announced_in = CASE WHEN excluded.shipped_at > slack_shipped.shipped_at THEN NULL
                                ELSE slack_shipped.announced_in END,
            shipped_at = greatest(excluded.shipped_at, slack_shipped.shipped_at)
        """, [theme_id, jira_key, at])


def announce_shipped(con: duckdb.DuckDBPyConnection, key: str, theme_ids: list[int]) -> None:
    """Remember which digest listed these shipped themes (it counts once that digest is sent)."""
    if theme_ids:
        con.execute("UPDATE slack_shipped SET announced_in = ? WHERE list_contains(?, theme_id)",
                    [key, theme_ids])


def sync_shipped_from_jira(con: duckdb.DuckDBPyConnection) -> int:
    """Mark shipped every theme whose Jira issue the Jira sink last saw Done (not declined)."""
    needed = {"theme_id", "issue_key", "jira_state", "resolved_at"}
    if not needed <= columns(con, "jira_issues"):
        return 0
    rows = con.execute("SELECT theme_id, issue_key, resolved_at FROM jira_issues "
                       "WHERE jira_state = 'done' AND resolved_at IS NOT NULL").fetchall()
    for theme_id, key, resolved_at in rows:
        mark_shipped(con, theme_id, resolved_at, jira_key=key)
    return len(rows)


def build_digest(con: duckdb.DuckDBPyConnection, ranking: list[dict], *, as_of: datetime,
                 run_id: str, totals: dict, config: SlackConfig, jira_server: str = "") -> dict:
    """The full digest of this run, as posted live and as written to the dry-run outbox."""
    sync_shipped_from_jira(con)
    ctx = digest_context(con, as_of=as_of, run_id=run_id, config=config, jira_server=jira_server)
    digest = slack_digest(ranking, as_of=as_of, totals=totals, config=config, context=ctx)
    digest["shipped_theme_ids"] = [s["theme_id"] for s in ctx.shipped[: config.shipped_n]]
    return digest


__all__ = ["build_digest", "announce_shipped", "community_threads", "digest_context", "jira_links",
           "mark_shipped", "previous_digest", "sync_shipped_from_jira"]
