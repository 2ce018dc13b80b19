"""The warehouse side of the Slack digest: what it needs besides the ranking, and what it shipped.

Split from ``digest.py`` so that rendering the digest (Block Kit, limits, preview) stays pure and
testable without a warehouse; everything that reads or writes DuckDB for the digest lives here:
the sources/kinds/segments/plans filter (``item_filter``, ``filtered_ranking``), the header counts
(``digest_counts``), Jira links, the previous digest, new and shipped themes, the community
threads to answer and the praise to thank (``digest_context``), and the ``slack_shipped`` table
(``mark_shipped``, ``announce_shipped``, ``sync_shipped_from_jira``).
"""

from __future__ import annotations

import json
from datetime import datetime

import duckdb

from feedback_pipeline.deliver.slack.config import SlackConfig
from feedback_pipeline.deliver.slack.digest import DigestContext, digest_key, slack_digest
from feedback_pipeline.deliver.slack.value import digest_account_filter
from feedback_pipeline.rank.value import value_over
from feedback_pipeline.deliver.slack.pulse_block import digest_pulse
from feedback_pipeline.rank.pulse import PulseConfig, staff_answered_sql
from feedback_pipeline.warehouse.db import columns
from feedback_pipeline.warehouse.runs import ANNOUNCED_RUNS, digest_day


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


def item_filter(config: SlackConfig | None, alias: str = "i", *,
                kept: bool = True) -> tuple[str, list]:
    """The ``[deliver.slack]`` sources/kinds filter as SQL over ``items`` (``alias``), with its
    parameters; not deleted, and (``kept``) not dropped by the cleaner."""
    sql, params = f"NOT {alias}.deleted", []
    if kept:
        sql += f" AND {alias}.drop_reason IS NULL"
    if config and config.sources:
        sql += f" AND list_contains(?, {alias}.source)"
        params.append(list(config.sources))
    if config and config.kinds:
        sql += f" AND list_contains(?, {alias}.kind)"
        params.append(config.item_kinds)
    accounts_sql, accounts_params = digest_account_filter(config, alias)
    return sql + accounts_sql, params + accounts_params


def community_threads(con: duckdb.DuckDBPyConnection, theme_id: int, limit: int,
                      config: SlackConfig | None = None) -> list[dict]:
    """The community threads of a theme: the places to answer.

    Threads no staff member answered first (``rank.pulse.staff_answered_sql``; threads of a
    source without reply data come next, answered ones last), then questions, the most voted,
    the newest.
    """
    where, params = item_filter(config)
    answered = staff_answered_sql("i")
    rows = con.execute(
        f"""
        SELECT url, title, item_type, answered FROM (
            SELECT i.url, coalesce(nullif(i.title, ''), left(i.body, 80)) AS title, i.item_type,
                   i.votes, i.created_at, i.external_id, {answered} AS answered
            FROM item_themes t JOIN items i USING (source, external_id)
            WHERE t.theme_id = ? AND i.kind = 'community_post' AND i.url IS NOT NULL
              AND {where})
        ORDER BY coalesce(answered::INTEGER, 0.5), item_type = 'question' DESC NULLS LAST,
                 votes DESC NULLS LAST, created_at DESC, external_id LIMIT ?
        """, [theme_id, *params, limit]).fetchall()
    return [{"url": u, "title": t, "item_type": k, "answered": a} for u, t, k, a in rows]


def filtered_ranking(con: duckdb.DuckDBPyConnection, ranking: list[dict],
                     config: SlackConfig) -> list[dict]:
    """The ranking as the digest's filter sees it: themes with ``min_customers`` distinct authors
    among the matching items, their counts and quotes over those items only (ranks and trends
    stay the ranking's, so "#8" is the theme's rank everywhere). No filter: unchanged."""
    if not (config.sources or config.kinds or config.segments or config.plans) or not ranking:
        return ranking
    where, params = item_filter(config)
    value = value_over(con, [t["theme_id"] for t in ranking], where, params)
    counts = {r[0]: r[1:] for r in con.execute(
        f"""
        SELECT t.theme_id, count(*), count(DISTINCT i.author_hash),
               count(*) FILTER (WHERE i.kind = 'support_ticket'),
               count(*) FILTER (WHERE i.kind = 'community_post'),
               list(i.source || chr(0) || i.external_id)
        FROM item_themes t JOIN items i USING (source, external_id)
        WHERE list_contains(?, t.theme_id) AND {where}
        GROUP BY t.theme_id
        """, [[t["theme_id"] for t in ranking], *params]).fetchall()}
    out = []
    for theme in ranking:
        n, authors, support, community, keys = counts.get(theme["theme_id"], (0, 0, 0, 0, []))
        if authors < config.min_customers:  # a ticket theme with one forum post is not one
            continue
        quotes = theme.get("quotes")
        quotes = json.loads(quotes) if isinstance(quotes, str) else (quotes or [])
        keys = set(keys)
        quotes = [q for q in quotes
                  if f"{q.get('source')}\0{q.get('external_id')}" in keys]
        accounts, arr = value.get(theme["theme_id"], (0, 0.0))
        out.append({**theme, "item_count": n, "distinct_authors": authors,
                    "support_count": support, "community_count": community, "quotes": quotes,
                    "accounts_affected": accounts, "arr_at_stake": arr})
    return out


def digest_counts(con: duckdb.DuckDBPyConnection, ranking: list[dict], *, as_of: datetime,
                  config: SlackConfig) -> dict:
    """The header's counts, each over the items the digest's filter keeps.

    ``themes``: themes in the digest; ``items``: items in those themes; ``new_items``: items
    first stored by runs no earlier digest announced (kept by the cleaner); ``new_in_themes``:
    those of them in the digest's themes; ``new_dropped``: new items the cleaner dropped (bots,
    empty or too short), which are in no theme.
    """
    where, params = item_filter(config)
    theme_ids = [t["theme_id"] for t in ranking]
    items = con.execute(
        f"SELECT count(DISTINCT (i.source, i.external_id)) FROM item_themes t "
        f"JOIN items i USING (source, external_id) WHERE list_contains(?, t.theme_id) "
        f"AND i.created_at <= ? AND {where}", [theme_ids, as_of, *params]).fetchone()[0]
    any_where, any_params = item_filter(config, kept=False)
    new_items, new_in_themes, new_dropped = con.execute(
        f"""
        SELECT count(*) FILTER (WHERE i.drop_reason IS NULL),
               count(*) FILTER (WHERE i.drop_reason IS NULL AND list_contains(?, t.theme_id)),
               count(*) FILTER (WHERE i.drop_reason IS NOT NULL)
        FROM items i LEFT JOIN item_themes t USING (source, external_id)
        WHERE i.first_seen_run NOT IN ({ANNOUNCED_RUNS}) AND i.created_at <= ? AND {any_where}
        """, [theme_ids, digest_day(as_of), as_of, *any_params]).fetchone()
    return {"themes": len(ranking), "items": items, "new_items": new_items,
            "new_in_themes": new_in_themes, "new_dropped": new_dropped}


def praise_items(con: duckdb.DuckDBPyConnection, theme_ids: list[int], limit: int,
                 config: SlackConfig) -> list[dict]:
    """Items typed praise in the digest's themes, newest first: people to thank."""
    if not limit or not theme_ids:
        return []
    where, params = item_filter(config)
    rows = con.execute(
        f"""
        SELECT t.theme_id, i.source, i.external_id, i.url,
               coalesce(nullif(i.clean_text, ''), nullif(i.title, ''), i.body) AS text
        FROM item_themes t JOIN items i USING (source, external_id)
        WHERE list_contains(?, t.theme_id) AND i.item_type = 'praise' AND {where}
        ORDER BY i.created_at DESC, i.source, i.external_id LIMIT ?
        """, [theme_ids, *params, limit]).fetchall()
    return [{"theme_id": t, "source": s, "external_id": e, "url": u, "text": x}
            for t, s, e, u, x in rows]


def digest_context(con: duckdb.DuckDBPyConnection, ranking: list[dict], *, as_of: datetime,
                   run_id: str, config: SlackConfig, jira_server: str = "") -> DigestContext:
    """Read new themes (since the previous digest), shipped themes, Jira links, the threads to
    answer in the top themes and the praise to thank (``ranking``: the filtered ranking)."""
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
                        "threads": community_threads(con, theme_id, config.threads_per_theme,
                                                     config)})
    shipped = shipped[: config.shipped_n]
    gone = {s["theme_id"] for s in shipped}
    top = [t["theme_id"] for t in ranking if t["theme_id"] not in gone][: config.top_n]
    threads = {tid: community_threads(con, tid, config.threads_per_theme, config) for tid in top}
    praise = praise_items(con, [t["theme_id"] for t in ranking], config.praise_n, config)
    return DigestContext(new_theme_ids=new_ids, shipped=shipped, jira=links,
                         previous_date=prev[0].rsplit(":", 1)[-1] if prev else None,
                         threads=threads, praise=praise)


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
                 run_id: str, config: SlackConfig, jira_server: str = "",
                 pulse: PulseConfig | None = None, pulse_as_of: datetime | None = None) -> dict:
    """The full digest of this run, as posted live and as written to the dry-run outbox.

    Its header counts are read here, from the warehouse, with the digest's filter
    (:func:`digest_counts`), never taken from the caller.
    """
    sync_shipped_from_jira(con)
    ranking = filtered_ranking(con, ranking, config)
    ctx = digest_context(con, ranking, as_of=as_of, run_id=run_id, config=config,
                         jira_server=jira_server)
    # the pulse counts up to the run's as_of (the ranking's), the digest is dated by the run's day
    ctx.pulse = digest_pulse(con, config, pulse or PulseConfig(), as_of=pulse_as_of or as_of)
    totals = digest_counts(con, ranking, as_of=as_of, config=config)
    digest = slack_digest(ranking, as_of=as_of, totals=totals, config=config, context=ctx)
    digest["shipped_theme_ids"] = [s["theme_id"] for s in ctx.shipped]
    return digest


__all__ = ["announce_shipped", "build_digest", "community_threads", "digest_context",
           "digest_counts", "filtered_ranking", "item_filter", "jira_links", "mark_shipped",
           "praise_items", "previous_digest", "sync_shipped_from_jira"]
