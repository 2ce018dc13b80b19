"""``feedback-pipeline search``: the items and themes nearest in meaning to a question.

The query is embedded with the pipeline's own model (the same loader and configuration as the
embed stage, so it lands in the same space as the stored vectors), then DuckDB ranks the
stored vectors by ``array_cosine_similarity``: item vectors from the embedding cache (joined on
the item's ``text_hash`` and the model) and theme centroids. Nothing is copied out of the
warehouse to be scored in Python, and nothing is written: the warehouse is opened read-only.

Every customer field leaving here (snippet, titles, source names, ids) goes through the
renderers of :mod:`feedback_pipeline.markup`, links through :func:`redact.safe_link_url`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import duckdb

from feedback_pipeline.embed.embedder import Embedder
from feedback_pipeline.embed.item_types import TYPES
from feedback_pipeline.errors import FeedbackPipelineError
from feedback_pipeline.markup import json_document, json_text
from feedback_pipeline.rank.score import latest_ranking
from feedback_pipeline.redact import safe_link_url

SNIPPET_MAX, TITLE_MAX, ID_MAX = 240, 300, 120
THEMES_SHOWN = 5  # nearest themes listed after the items
QUERY_MAX = 2_000  # characters of the query that are embedded (the model reads ~256 tokens)


@dataclass(frozen=True)
class SearchQuery:
    """What to look for, and which items may answer."""

    text: str
    source: str | None = None
    item_type: str | None = None
    since: datetime | None = None
    limit: int = 10


def stored_dimension(con: duckdb.DuckDBPyConnection, model_id: str) -> int:
    """Length of the vectors stored for ``model_id``.

    Raises:
        FeedbackPipelineError: the warehouse holds no vector of that model (never embedded, or
            embedded with another model: the message names it).
    """
    row = con.execute("SELECT len(vector) FROM embeddings WHERE model = ? LIMIT 1",
                      [model_id]).fetchone()
    if row:
        return int(row[0])
    others = [r[0] for r in con.execute("SELECT DISTINCT model FROM embeddings ORDER BY 1")
              .fetchall()]
    if others:
        raise FeedbackPipelineError(
            f"the warehouse has no embeddings of the configured model {model_id!r} (it has "
            f"{', '.join(map(repr, others))}): run `feedback-pipeline run` with this "
            "configuration to embed the items, or set embed.model and embed.backend to the "
            "ones they were embedded with (a stored name reads model@backend)")
    raise FeedbackPipelineError("the warehouse has no embeddings yet: run `feedback-pipeline "
                                "run` (the pipeline embeds every item) before searching")


def check_query(con: duckdb.DuckDBPyConnection, model_id: str, query: SearchQuery) -> int:
    """Refuse a query that cannot be answered before the model is loaded; return the stored
    vector dimension.

    Raises:
        FeedbackPipelineError: empty query, unknown source or type, no embeddings.
    """
    if not query.text.strip():
        raise FeedbackPipelineError('the search query is empty: say what to look for, e.g. '
                                    'feedback-pipeline search "offline mode"')
    if query.limit < 1:
        raise FeedbackPipelineError(f"--limit must be at least 1 (got {query.limit})")
    if query.item_type is not None and query.item_type not in TYPES:
        raise FeedbackPipelineError(f"unknown item type {query.item_type!r}: use one of "
                                    f"{', '.join(TYPES)}")
    if query.source is not None:
        known = [r[0] for r in con.execute("SELECT DISTINCT source FROM items ORDER BY 1")
                 .fetchall()]
        if query.source not in known:
            raise FeedbackPipelineError(
                f"unknown source {json_text(query.source, ID_MAX)!r}: the warehouse holds "
                + (", ".join(json_text(s, ID_MAX) for s in known) or "no items yet"))
    return stored_dimension(con, model_id)


def _filters(query: SearchQuery) -> tuple[str, list]:
    """SQL conditions on ``i`` (items) for the query's filters, and their parameters."""
    where, params = ["NOT i.deleted", "i.drop_reason IS NULL"], []
    if query.source is not None:
        where.append("i.source = ?")
        params.append(query.source)
    if query.item_type is not None:
        where.append("i.item_type = ?")
        params.append(query.item_type)
    if query.since is not None:
        since = query.since if query.since.tzinfo else query.since.replace(tzinfo=UTC)
        where.append("i.created_at >= ?")
        params.append(since)
    return " AND ".join(where), params


def nearest(con: duckdb.DuckDBPyConnection, model_id: str, vector: list[float],
            query: SearchQuery) -> dict:
    """Items (filtered) and themes nearest to ``vector``, by cosine similarity in DuckDB.

    Items come with their theme (id, title, rank); themes are those with at least one member
    that passes the filters, nearest centroid first. Only themes of the latest ranking are
    named, as everywhere else: one under ``rank.min_authors``, rejected, merged or faded is
    never surfaced (its items are, as items without a theme).
    """
    dim = len(vector)
    where, params = _filters(query)
    ranking = {t["theme_id"]: t for t in latest_ranking(con)}
    ranked = sorted(ranking)
    # The dimension is a number we computed: safe to put in the SQL text (a cast needs it).
    items = con.execute(
        f"""
        SELECT array_cosine_similarity(e.vector::FLOAT[{dim}], ?::FLOAT[{dim}]) AS similarity,
               i.source, i.external_id, i.kind, i.item_type, i.created_at, i.url,
               coalesce(i.clean_text, i.title, i.body) AS text, t.theme_id, th.title
        FROM items i
        JOIN embeddings e ON e.text_hash = i.text_hash AND e.model = ?
        LEFT JOIN item_themes t ON t.source = i.source AND t.external_id = i.external_id
        LEFT JOIN themes th ON th.theme_id = t.theme_id AND list_contains(?, th.theme_id)
        WHERE {where}
        ORDER BY similarity DESC, i.source, i.external_id
        LIMIT ?
        """, [vector, model_id, ranked, *params, query.limit]).fetchall()
    themes = con.execute(
        f"""
        SELECT array_cosine_similarity(th.centroid::FLOAT[{dim}], ?::FLOAT[{dim}]) AS similarity,
               th.theme_id, th.title, th.size
        FROM themes th
        WHERE list_contains(?, th.theme_id) AND len(th.centroid) = {dim}
          AND EXISTS (SELECT 1 FROM item_themes t JOIN items i USING (source, external_id)
                      WHERE t.theme_id = th.theme_id AND {where})
        ORDER BY similarity DESC, th.theme_id
        LIMIT {THEMES_SHOWN}
        """, [vector, ranked, *params]).fetchall()
    return {
        "query": json_text(query.text, TITLE_MAX),
        "model": model_id,
        "filters": {"source": query.source and json_text(query.source, ID_MAX),
                    "type": query.item_type,
                    "since": query.since.date().isoformat() if query.since else None},
        "items": [{
            "similarity": round(float(sim), 4),
            "source": json_text(source, ID_MAX),
            "external_id": json_text(external_id, ID_MAX),
            "kind": kind,
            "type": item_type,
            "date": created.astimezone(UTC).date().isoformat(),
            "url": safe_link_url(url),
            "snippet": json_text(text, SNIPPET_MAX),
            "theme": None if theme_title is None else {
                "id": theme_id, "title": json_text(theme_title, TITLE_MAX),
                "rank": ranking[theme_id]["rank"]},
        } for (sim, source, external_id, kind, item_type, created, url, text, theme_id,
               theme_title) in items],
        "themes": [{
            "similarity": round(float(sim), 4), "id": theme_id,
            "title": json_text(title, TITLE_MAX), "rank": ranking[theme_id]["rank"],
            "items": size, "needs_review": bool(ranking[theme_id].get("needs_review")),
        } for sim, theme_id, title, size in themes],
    }


def search(con: duckdb.DuckDBPyConnection, embedder: Embedder, query: SearchQuery) -> dict:
    """Check the query, embed it (the model loads here, after the checks), find its neighbours.

    Raises:
        FeedbackPipelineError: see :func:`check_query`; or the model's vectors do not match the
            stored ones in length.
    """
    dim = check_query(con, embedder.model_id, query)
    vector = embedder.embed([" ".join(query.text.split())[:QUERY_MAX]])[0]
    if len(vector) != dim:
        raise FeedbackPipelineError(
            f"the model {embedder.model_id!r} makes {len(vector)}-dimensional vectors but the "
            f"warehouse stores {dim}-dimensional ones under that name: re-embed with "
            "`feedback-pipeline run` after changing the model")
    return nearest(con, embedder.model_id, [float(x) for x in vector], query)


def search_json(result: dict) -> str:
    return json_document(result, indent=2)


def _theme_label(theme: dict | None) -> str:
    if theme is None:
        return "no theme"
    return f"theme {theme['id']} (#{theme['rank']}): {theme['title']}"


def search_table(result: dict, width: int = 100) -> str:
    """Items then themes, one line each plus a snippet line; every field already redacted."""
    if not result["items"]:
        return f"no items match {result['query']!r} with these filters"
    lines = [f"{'sim':>5}  {'date':<10}  {'source':<24} {'type':<8}  theme"]
    for it in result["items"]:
        lines.append(f"{it['similarity']:>5.2f}  {it['date']:<10}  {it['source'][:24]:<24} "
                     f"{(it['type'] or '-'):<8}  {_theme_label(it['theme'])[:width]}")
        snippet = it["snippet"] if len(it["snippet"]) <= width else it["snippet"][:width - 1] + "…"
        lines.append(f"{'':>7}{snippet}")
        if it["url"]:
            lines.append(f"{'':>7}{it['url']}")
    if not result["themes"]:
        filtered = any(v is not None for v in result["filters"].values())
        return "\n".join([*lines, "", "no ranked theme has an item that passes these filters"
                           if filtered else "no ranked themes yet (items are searchable once "
                           "embedded; themes once a run has ranked them)"])
    lines += ["", "nearest themes:", f"{'sim':>5}  {'id':>4}  {'rank':>4}  {'items':>5}  title"]
    for th in result["themes"]:
        review = "[needs review] " if th["needs_review"] else ""
        lines.append(f"{th['similarity']:>5.2f}  {th['id']:>4}  {th['rank']:>4}  {th['items']:>5}  "
                     f"{review}{th['title'][:width]}")
    return "\n".join(lines)


__all__ = ["SearchQuery", "check_query", "nearest", "search", "search_json", "search_table",
           "stored_dimension"]
