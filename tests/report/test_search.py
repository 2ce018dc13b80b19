"""``feedback-pipeline search`` on a small hand-made warehouse: ranking, filters, redaction, errors.

The vectors come from :class:`TopicEmbedder`, a stand-in for the model whose geometry is known
(one axis per topic word), so every expected order is worked out by hand. The real model on the
whole demo is in ``test_search_demo.py``.
"""

from __future__ import annotations

import json
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from feedback_pipeline.cli import app
from feedback_pipeline.embed.embedder import Embedder
from feedback_pipeline.embed.stage import save_vectors
from feedback_pipeline.errors import FeedbackPipelineError
from feedback_pipeline.report.search import SearchQuery, search, search_json, search_table
from feedback_pipeline.warehouse import db

DIM = 384
TOPICS = ("csv", "export", "dark", "mode", "sso", "login", "invoice")
EMAIL, PHONE = "jane.doe@example.com", "+1 415 555 0100"


class TopicEmbedder(Embedder):
    """Unit vectors with one axis per topic word present (plus a small shared component)."""

    def __init__(self, model_id: str = "topic-model", dim: int = DIM) -> None:
        self.model_id, self.dim, self.calls = model_id, dim, 0

    def embed(self, texts: list[str]) -> np.ndarray:
        self.calls += 1
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            words = text.lower().split()
            for axis, topic in enumerate(TOPICS):
                out[row, axis] = sum(w.strip(".,?!") == topic for w in words)
            out[row, len(TOPICS)] = 0.1
        return out / np.linalg.norm(out, axis=1, keepdims=True)


# (source, external_id, text, item type, created, theme, extra): theme 3 is rejected, theme 4
# active but not ranked (too few authors), -1 noise
ITEMS = [
    ("forum", "f1", "csv export is slow", "request", "2026-11-10", 1, {}),
    ("forum", "f2", "csv export fails csv", "problem", "2026-10-01", 1, {}),
    ("desk", "d1", f"csv export times out, mail me at {EMAIL} or call {PHONE}", "problem",
     "2026-11-15", 1, {"url": f"https://support.example.com/t/d1?email={EMAIL}"}),
    ("desk", "d2", "dark mode please", "request", "2026-11-12", 2, {}),
    ("forum", "f3", "dark mode would be nice <script>x</script>", "request", "2026-09-01", 2, {}),
    ("forum", "f4", "login with sso", "question", "2026-11-01", -1, {}),
    ("forum", "f6", "sso login fails", "problem", "2026-10-20", 4, {}),
    ("forum", "r1", "csv invoice spam", "request", "2026-11-02", 3, {}),
    ("desk", "x1", "csv export bot noise", "problem", "2026-11-03", -1, {"drop_reason": "bot"}),
    ("desk", "x2", "csv export deleted", "problem", "2026-11-04", -1, {"deleted": True}),
]
THEMES = {1: ("CSV export", "active", 1), 2: ("Dark mode", "active", 2),
          3: ("Invoice spam", "rejected", None), 4: ("SSO login", "active", None)}


def build(path: Path, embedder: Embedder) -> Path:
    with closing(db.connect(path)) as con:
        vectors = embedder.embed([t for _, _, t, *_ in ITEMS])
        save_vectors(con, embedder.model_id, [f"h-{e}" for _, e, *_ in ITEMS], vectors)
        for source, ext, text, item_type, day, theme, extra in ITEMS:
            created = datetime.fromisoformat(day).replace(tzinfo=UTC)
            con.execute(
                "INSERT INTO items (source, external_id, kind, url, title, body, created_at, "
                "updated_at, content_hash, clean_text, text_hash, item_type, drop_reason, "
                "deleted) VALUES (?, ?, 'community_post', ?, '', ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [source, ext, extra.get("url", f"https://{source}.example.com/{ext}"), text,
                 created, created, f"c-{ext}", text, f"h-{ext}", item_type,
                 extra.get("drop_reason"), extra.get("deleted", False)])
            con.execute("INSERT INTO item_themes (source, external_id, theme_id) VALUES (?, ?, ?)",
                        [source, ext, theme])
        for theme, (title, status, rank) in THEMES.items():
            members = np.array([v for item, v in zip(ITEMS, vectors, strict=True)
                                if item[5] == theme])
            centroid = members.mean(axis=0)
            con.execute("INSERT INTO themes (theme_id, title, status, centroid, size) VALUES "
                        "(?, ?, ?, ?, ?)", [theme, title, status,
                                            (centroid / np.linalg.norm(centroid)).tolist(),
                                            len(members)])
            if rank:
                con.execute("INSERT INTO theme_scores (run_id, theme_id, rank, score) VALUES "
                            "('run-1', ?, ?, 1.0)", [theme, rank])
        con.execute("INSERT INTO runs (run_id, started_at, status) VALUES ('run-1', now(), "
                    "'completed')")
    return path


@pytest.fixture
def topic_warehouse(tmp_path) -> Path:
    return build(tmp_path / "wh.duckdb", TopicEmbedder())


def find(path: Path, text: str, embedder: Embedder | None = None, **filters) -> dict:
    with closing(db.connect(path, read_only=True)) as con:
        return search(con, embedder or TopicEmbedder(), SearchQuery(text, **filters))


def test_items_and_themes_nearest_first_with_their_theme(topic_warehouse):
    result = find(topic_warehouse, "csv export")
    items = result["items"]
    # x1 (dropped by the cleaner) and x2 (deleted) are never shown
    # d1 and f1 say exactly the query's topics; ties go by source, then id
    assert [it["external_id"] for it in items] == ["d1", "f1", "f2", "r1", "d2", "f3", "f4",
                                                   "f6"]
    assert items[0]["similarity"] == pytest.approx(1.0, abs=1e-4)
    assert items[2]["similarity"] == pytest.approx(3.01 / np.sqrt(2.01 * 5.01), abs=1e-4)
    assert items[0]["theme"] == {"id": 1, "title": "CSV export", "rank": 1}
    assert items[3]["theme"] is None  # its theme was rejected: noise, not a theme to show
    assert items[6]["theme"] is None  # noise
    assert [t["id"] for t in result["themes"]] == [1, 2]  # the rejected theme is not listed
    assert result["themes"][0] == {**result["themes"][0], "title": "CSV export", "rank": 1,
                                   "items": 3, "needs_review": False}
    assert [it["date"] for it in items[:2]] == ["2026-11-15", "2026-11-10"]


@pytest.mark.parametrize(("filters", "expected"), [
    ({"source": "desk"}, ["d1", "d2"]),
    ({"item_type": "request"}, ["f1", "r1", "d2", "f3"]),
    ({"since": datetime(2026, 11, 10)}, ["d1", "f1", "d2"]),
    ({"source": "forum", "item_type": "problem"}, ["f2", "f6"]),
    ({"limit": 2}, ["d1", "f1"]),
])
def test_filters(topic_warehouse, filters, expected):
    assert [it["external_id"] for it in find(topic_warehouse, "csv export", **filters)["items"]] \
        == expected


def test_themes_are_those_with_a_member_passing_the_filters(topic_warehouse):
    assert [t["id"] for t in find(topic_warehouse, "csv export", source="desk",
                                  item_type="request")["themes"]] == [2]
    result = find(topic_warehouse, "csv export", item_type="question")
    assert [it["external_id"] for it in result["items"]] == ["f4"] and result["themes"] == []
    nothing = find(topic_warehouse, "csv", since=datetime(2027, 1, 1))
    assert nothing["items"] == [] and "no items match 'csv'" in search_table(nothing)


def test_personal_data_and_markup_never_leave(topic_warehouse):
    result = find(topic_warehouse, "csv export dark mode", limit=10)
    for text in (search_table(result), search_json(result)):
        assert EMAIL not in text and PHONE not in text and "555" not in text
    d1 = next(it for it in result["items"] if it["external_id"] == "d1")
    assert d1["snippet"] == "csv export times out, mail me at [email] or call [phone]"
    assert d1["url"] == "https://support.example.com/t/d1"  # the query carried the e-mail
    # JSON is inert inside HTML too, as every JSON output (markup.json_document)
    assert "<script>" not in search_json(result)
    assert "\\u003cscript\\u003e" in search_json(result)


def test_only_ranked_themes_are_named(topic_warehouse):
    """Theme 4 is the nearest to "sso login" but below rank.min_authors: never surfaced as a
    theme (its item is found, as an item without one), as in every other output."""
    result = find(topic_warehouse, "sso login", limit=3)
    assert [(it["external_id"], it["theme"]) for it in result["items"][:2]] == [("f4", None),
                                                                                 ("f6", None)]
    assert 4 not in [t["id"] for t in result["themes"]] and result["themes"]
    only = find(topic_warehouse, "sso login", source="forum", item_type="problem",
                since=datetime(2026, 10, 15))
    assert [it["external_id"] for it in only["items"]] == ["f6"] and only["themes"] == []
    assert search_table(only).endswith("no ranked theme has an item that passes these filters")


def test_items_are_found_before_any_ranking(topic_warehouse):
    # e.g. the first run stopped after embedding: items are there, no theme is ranked yet
    with closing(db.connect(topic_warehouse)) as con:
        con.execute("DELETE FROM theme_scores")
    result = find(topic_warehouse, "csv export", limit=3)
    assert [(it["external_id"], it["theme"]) for it in result["items"]] == [
        ("d1", None), ("f1", None), ("f2", None)]
    assert result["themes"] == []
    assert search_table(result).endswith("no ranked themes yet (items are searchable once "
                                         "embedded; themes once a run has ranked them)")


@pytest.mark.parametrize("text", ["", "   ", "\n\t"])
def test_an_empty_query_is_refused_before_the_model_loads(topic_warehouse, text):
    embedder = TopicEmbedder()
    with pytest.raises(FeedbackPipelineError, match="the search query is empty"):
        find(topic_warehouse, text, embedder)
    assert embedder.calls == 0


@pytest.mark.parametrize(("filters", "message"), [
    ({"source": "zendesk"}, "unknown source 'zendesk': the warehouse holds desk, forum"),
    ({"item_type": "bug"}, "unknown item type 'bug': use one of request, problem, question, "
                           "praise"),
    ({"limit": 0}, "--limit must be at least 1"),
])
def test_bad_filters_are_refused(topic_warehouse, filters, message):
    embedder = TopicEmbedder()
    with pytest.raises(FeedbackPipelineError, match=message):
        find(topic_warehouse, "csv", embedder, **filters)
    assert embedder.calls == 0


def test_a_warehouse_without_embeddings_says_to_run_the_pipeline(tmp_path):
    db.connect(tmp_path / "wh.duckdb").close()
    with pytest.raises(FeedbackPipelineError, match="no embeddings yet: run `feedback-pipeline "
                                                    "run`"):
        find(tmp_path / "wh.duckdb", "csv")


def test_embeddings_of_another_model_are_named(topic_warehouse):
    with pytest.raises(FeedbackPipelineError, match="no embeddings of the configured model "
                                                    "'other-model' \\(it has 'topic-model'\\)"):
        find(topic_warehouse, "csv", TopicEmbedder("other-model"))


def test_vectors_of_another_length_are_refused(topic_warehouse):
    with pytest.raises(FeedbackPipelineError, match="makes 768-dimensional vectors but the "
                                                    "warehouse stores 384-dimensional"):
        find(topic_warehouse, "csv", TopicEmbedder(dim=768))


def test_the_command_reports_errors_without_loading_the_model(tmp_path):
    runner = CliRunner()
    empty = tmp_path / "empty.duckdb"
    db.connect(empty).close()
    out = runner.invoke(app, ["search", "offline mode", "--warehouse", str(empty)])
    assert out.exit_code == 2 and "no embeddings yet" in out.output
    out = runner.invoke(app, ["search", " ", "--warehouse", str(empty)])
    assert out.exit_code == 2 and "the search query is empty" in out.output
    out = runner.invoke(app, ["search", "x", "--warehouse", str(tmp_path / "none.duckdb")])
    assert out.exit_code == 2 and "no warehouse at" in out.output
    out = runner.invoke(app, ["search", "x", "--warehouse", str(empty), "--type", "bug"])
    assert out.exit_code == 2 and "unknown item type 'bug'" in out.output


def test_the_warehouse_is_only_read(topic_warehouse):
    before = topic_warehouse.read_bytes()
    json.loads(search_json(find(topic_warehouse, "csv export")))
    assert topic_warehouse.read_bytes() == before


def test_a_warehouse_of_an_older_version_is_upgraded_by_the_read_only_search(topic_warehouse):
    # A warehouse from before theme_trends.window_days, never opened read-write since.
    with closing(db.duckdb.connect(str(topic_warehouse))) as con:
        con.execute("ALTER TABLE theme_trends DROP COLUMN window_days")
    assert find(topic_warehouse, "csv export")["items"]
    with closing(db.connect(topic_warehouse, read_only=True)) as con:
        assert "window_days" in db.columns(con, "theme_trends")
