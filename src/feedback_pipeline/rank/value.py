"""Customer value of the ranked themes: what ``theme_value.sql`` stored, and the segment/plan
filter every output (``themes``, the report, the digest) applies the same way.

A filter keeps the themes with at least one item from a matching account, and recomputes over
the matching items the counts the outputs show (reports, customers, accounts, ARR at stake);
ranks and scores stay the ranking's, so "#8" names the same theme everywhere. Segment and plan
compare case-insensitively; an item's plan is its account's (the accounts file), else its own.
"""

from __future__ import annotations

import json
from datetime import datetime

import duckdb

from feedback_pipeline.rank.score import latest_ranking

VALUE_FIELDS = ("accounts", "arr", "by_plan", "by_segment", "top_accounts")


def _lower(values: list[str] | tuple[str, ...] | None) -> list[str]:
    return sorted({v.strip().lower() for v in values or () if v and v.strip()})


def account_filter(segments: list[str] | None, plans: list[str] | None,
                   alias: str = "i") -> tuple[str, list]:
    """SQL over ``items`` (``alias``) keeping items of a matching account; ("TRUE", []) when
    neither is given."""
    sql, params = [], []
    if _lower(segments):
        sql.append(f"list_contains(?, (SELECT lower(a.segment) FROM accounts a "
                   f"WHERE a.customer = {alias}.customer))")
        params.append(_lower(segments))
    if _lower(plans):
        sql.append(f"list_contains(?, lower(coalesce((SELECT a.plan FROM accounts a "
                   f"WHERE a.customer = {alias}.customer), {alias}.plan)))")
        params.append(_lower(plans))
    return (" AND ".join(sql) or "TRUE"), params


def theme_values(con: duckdb.DuckDBPyConnection, run_id: str) -> dict[int, dict]:
    """{theme_id: {accounts, arr, by_plan, by_segment, top_accounts}} of one run (themes no
    known account asks for are absent)."""
    rows = con.execute(f"SELECT theme_id, {', '.join(VALUE_FIELDS)} FROM theme_value "
                       "WHERE run_id = ?", [run_id]).fetchall()
    return {r[0]: {k: json.loads(v) if isinstance(v, str) else v
                   for k, v in zip(VALUE_FIELDS, r[1:], strict=True)} for r in rows}


def value_over(con: duckdb.DuckDBPyConnection, theme_ids: list[int], where: str,
               params: list) -> dict[int, tuple[int, float]]:
    """{theme_id: (accounts, ARR at stake)} over the members matching ``where`` (on ``i``)."""
    if not theme_ids:
        return {}
    rows = con.execute(
        f"""
        SELECT theme_id, count(*), sum(arr) FROM (
            SELECT DISTINCT t.theme_id, a.customer, a.arr
            FROM item_themes t JOIN items i USING (source, external_id)
            JOIN accounts a ON a.customer = i.customer
            WHERE list_contains(?, t.theme_id) AND NOT i.deleted AND i.drop_reason IS NULL
              AND {where})
        GROUP BY theme_id
        """, [theme_ids, *params]).fetchall()
    return {r[0]: (int(r[1]), float(r[2] or 0)) for r in rows}


def filter_by_accounts(con: duckdb.DuckDBPyConnection, ranking: list[dict], *,
                       segments: list[str] | None = None, plans: list[str] | None = None,
                       as_of: datetime | None = None) -> list[dict]:
    """The ranking's themes with an item from a matching account, their counts over those items
    (created up to ``as_of`` when given; ``filtered_by`` says which filter); no filter: the
    ranking unchanged."""
    where, params = account_filter(segments, plans)
    if not params or not ranking:
        return ranking
    if as_of is not None:
        where, params = f"{where} AND i.created_at <= ?", [*params, as_of]
    ids = [t["theme_id"] for t in ranking]
    counts = {r[0]: r[1:] for r in con.execute(
        f"""
        SELECT t.theme_id, count(*), count(DISTINCT i.author_hash),
               count(*) FILTER (WHERE i.kind = 'support_ticket'),
               count(*) FILTER (WHERE i.kind = 'community_post')
        FROM item_themes t JOIN items i USING (source, external_id)
        WHERE list_contains(?, t.theme_id) AND NOT i.deleted AND i.drop_reason IS NULL
          AND {where}
        GROUP BY t.theme_id
        """, [ids, *params]).fetchall()}
    value = value_over(con, ids, where, params)
    label = "; ".join(f"{name} {', '.join(vals)}" for name, vals in
                      (("segment", _lower(segments)), ("plan", _lower(plans))) if vals)
    out = []
    for theme in ranking:
        if theme["theme_id"] not in counts:
            continue
        n, authors, support, community = counts[theme["theme_id"]]
        accounts, arr = value.get(theme["theme_id"], (0, 0.0))
        out.append({**theme, "item_count": n, "distinct_authors": authors,
                    "support_count": support, "community_count": community,
                    "support_share": support / n if n else 0.0,
                    "accounts_affected": accounts, "arr_at_stake": arr, "filtered_by": label})
    return out


def ranking_for(con: duckdb.DuckDBPyConnection, *, segments: list[str] | None = None,
                plans: list[str] | None = None) -> list[dict]:
    """The latest ranking, filtered by segment/plan (the CLI's and the report's one read)."""
    return filter_by_accounts(con, latest_ranking(con), segments=segments, plans=plans)


def money(amount: float | int | None) -> str:
    """ARR, compactly: 1.2M, 45k, 900."""
    value = float(amount or 0)
    # compared after rounding to one decimal, so 999,999 reads 1M, never 1000k
    for limit, suffix in ((1e6, "M"), (1e3, "k")):
        if value >= limit * 0.99995:
            return f"{value / limit:.1f}".removesuffix(".0") + suffix
    return f"{value:.0f}"


__all__ = ["account_filter", "filter_by_accounts", "money", "ranking_for", "theme_values",
           "value_over"]
