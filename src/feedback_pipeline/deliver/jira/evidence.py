"""What a theme's Jira issue shows beyond its ranking row, read from the warehouse.

One call, :func:`issue_evidence`, serves the dry-run outbox and the live sink alike, so what a
user reviews in dry run is what would be filed: weekly counts, sources and thread links
(``store.theme_evidence``), who asks (customers per plan, accounts; the customer value:
accounts affected, ARR at stake, top accounts), quotes covering every kind of source, the
reports that match each urgency rule's vocabulary, and the nearest other themes by centroid
with their issue keys.
"""

from __future__ import annotations

import dataclasses
import json
import re
from datetime import datetime

import duckdb

from feedback_pipeline.deliver.jira import store
from feedback_pipeline.deliver.jira.body import pick_quotes
from feedback_pipeline.deliver.jira.config import JiraConfig
from feedback_pipeline.deliver.jira.render import Related, ThemeEvidence
from feedback_pipeline.rank.value import theme_values

_MEMBERS = """
    FROM item_themes t JOIN items i USING (source, external_id)
    WHERE t.theme_id = $theme AND NOT i.deleted AND i.drop_reason IS NULL
      AND i.created_at <= $as_of
"""


def issue_evidence(con: duckdb.DuckDBPyConnection, theme: dict, config: JiraConfig, *,
                   as_of: datetime) -> ThemeEvidence:
    """Everything the issue of ``theme`` (a ranking row) shows besides the row itself."""
    tid = theme["theme_id"]
    p = {"theme": tid, "as_of": as_of}
    base = store.theme_evidence(con, tid, as_of=as_of)
    # A customer who changed plan counts once, under the plan of their newest report.
    plans = con.execute(
        f"SELECT plan, count(*) n FROM (SELECT i.author_hash, arg_max(i.plan, i.created_at) plan "
        f"{_MEMBERS} AND i.plan IS NOT NULL AND i.author_hash IS NOT NULL GROUP BY 1) "
        "GROUP BY 1 ORDER BY n DESC, plan", p).fetchall()
    accounts = con.execute(f"SELECT count(DISTINCT i.customer) {_MEMBERS}", p).fetchone()[0]
    urgency = {rule.name: vocabulary_hits(con, tid, rule.terms, as_of=as_of)
               for rule in config.urgency if rule.terms}
    value = theme_values(con, theme["run_id"]).get(tid) if theme.get("run_id") else None
    return dataclasses.replace(
        base, plans=dict(plans), accounts=int(accounts or 0), value=value,
        quotes=_quotes(con, theme, as_of=as_of), urgency=urgency,
        related=related_themes(con, tid, config))


def term_pattern(terms: list[str]) -> str:
    """A regular expression (RE2, for DuckDB) matching any of ``terms`` where a word starts."""
    words = sorted({t.strip().lower() for t in terms if t.strip()}, key=len, reverse=True)
    return r"(?:^|[^\p{L}\p{N}])(" + "|".join(re.escape(w) for w in words) + ")"


def vocabulary_hits(con: duckdb.DuckDBPyConnection, theme_id: int, terms: list[str], *,
                    as_of: datetime) -> dict[str, int]:
    """{term: reports of the theme whose first matching term it is} (each report once)."""
    if not any(t.strip() for t in terms):
        return {}
    rows = con.execute(
        f"SELECT term, count(*) n FROM (SELECT regexp_extract(lower(coalesce(i.title, '') || ' "
        f"' || coalesce(i.clean_text, '')), $pattern, 1) AS term {_MEMBERS}) WHERE term <> '' "
        "GROUP BY term ORDER BY n DESC, term",
        {"theme": theme_id, "as_of": as_of, "pattern": term_pattern(terms)}).fetchall()
    return dict(rows)


def related_themes(con: duckdb.DuckDBPyConnection, theme_id: int,
                   config: JiraConfig) -> list[Related]:
    """The active themes nearest to ``theme_id`` by centroid cosine, at or above
    ``related_similarity``, with their issue keys (None: no issue)."""
    if config.related_max == 0:
        return []
    rows = con.execute(
        """
        SELECT o.theme_id, o.title, list_cosine_similarity(t.centroid, o.centroid) AS sim,
               j.issue_key
        FROM themes t JOIN themes o ON o.theme_id <> t.theme_id
        LEFT JOIN jira_issues j ON j.theme_id = o.theme_id
        WHERE t.theme_id = ? AND o.status = 'active' AND len(o.centroid) = len(t.centroid)
          AND list_cosine_similarity(t.centroid, o.centroid) >= ?
        ORDER BY sim DESC, o.theme_id LIMIT ?
        """, [theme_id, config.related_similarity, config.related_max]).fetchall()
    return [Related(theme_id=r[0], title=r[1], similarity=round(float(r[2]), 4), issue_key=r[3],
                    duplicate=r[2] >= config.duplicate_similarity) for r in rows]


def _quotes(con: duckdb.DuckDBPyConnection, theme: dict, *, as_of: datetime) -> list[dict]:
    """Up to three of the theme's quotes (chosen for variety when it was labelled), taking turns
    between community posts and support tickets so each kind the theme has is heard; a kind
    none of the stored quotes is from gets its member closest to the centroid."""
    stored = theme["quotes"]
    quotes = [dict(q) for q in (json.loads(stored) if isinstance(stored, str) else stored or [])]
    keys = [f"{q.get('source')}\x1f{q.get('external_id')}" for q in quotes]
    kinds = dict(con.execute(
        "SELECT source || chr(31) || external_id, kind FROM items WHERE list_contains(?, "
        "source || chr(31) || external_id)", [keys]).fetchall()) if keys else {}
    for q, key in zip(quotes, keys, strict=True):
        q["kind"] = kinds.get(key)
    present = [k for k, n in (("community_post", theme.get("community_count")),
                              ("support_ticket", theme.get("support_count"))) if n]
    for kind in present:
        if not any(q["kind"] == kind for q in quotes):
            row = con.execute(
                f"SELECT i.source, i.external_id, coalesce(i.clean_text, i.title, ''), i.url "
                f"{_MEMBERS} AND i.kind = $kind ORDER BY t.similarity DESC NULLS LAST, "
                "i.created_at DESC, i.external_id LIMIT 1",
                {"theme": theme["theme_id"], "as_of": as_of, "kind": kind}).fetchone()
            if row:
                quotes.append({"source": row[0], "external_id": row[1], "text": row[2],
                               "url": row[3], "kind": kind})
    return pick_quotes(quotes)


__all__ = ["issue_evidence", "related_themes", "term_pattern", "vocabulary_hits"]
