import json
import math
from datetime import UTC, datetime, timedelta

import pytest

from feedback_pipeline.config import RankConfig, RankWeights
from feedback_pipeline.rank.score import latest_ranking, rank_themes
from feedback_pipeline.warehouse.runs import resolve_as_of

AS_OF = datetime(2024, 6, 30, tzinfo=UTC)
COMPONENTS = {"volume", "authors", "growth", "recency", "votes", "support_share", "coherence",
              "value"}

# (external_id, theme_id, kind, author, days before AS_OF, votes, deleted, drop_reason)
ITEMS = [
    # theme 1 "export": 6 counted items from 4 authors
    ("e1", 1, "support_ticket", "A", 0, 2, False, None),  # exactly at as_of: counted, recent
    ("e2", 1, "community_post", "B", 3, 5, False, None),
    ("e3", 1, "community_post", "C", 10, 0, False, None),
    ("e4", 1, "support_ticket", "A", 14, 1, False, None),  # exactly one window back: previous
    ("e5", 1, "community_post", "D", 20, 2, False, None),
    ("e6", 1, "community_post", "B", 40, 0, False, None),  # older than both windows
    ("e7", 1, "community_post", "E", 2, 50, False, "bot"),  # dropped by the cleaner
    ("e8", 1, "community_post", "F", 2, 50, True, None),  # deleted at the source
    ("e9", 1, "community_post", "G", -2, 50, False, None),  # after as_of
    # theme 2 "dark mode": 5 items, 3 authors (one item has no author), most votes
    ("d1", 2, "community_post", "H", 5, 20, False, None),
    ("d2", 2, "community_post", "I", 18, 10, False, None),
    ("d3", 2, "community_post", "J", 25, 5, False, None),
    ("d4", 2, "support_ticket", "H", 60, 0, False, None),
    ("d5", 2, "community_post", None, 7, 0, False, None),
    # theme 3 "sso": 5 items but only 2 authors: below min_authors
    *[(f"s{i}", 3, "support_ticket", "KL"[i % 2], i, 9, False, None) for i in range(5)],
    # theme 4 is faded: never ranked however busy
    *[(f"f{i}", 4, "support_ticket", f"fan{i}", 1, 9, False, None) for i in range(5)],
    # noise (theme -1 has no themes row): never ranked
    *[(f"n{i}", -1, "community_post", f"loner{i}", 1, 9, False, None) for i in range(5)],
    # theme 5 "search": all support tickets, all old
    ("q1", 5, "support_ticket", "M", 30, 0, False, None),
    ("q2", 5, "support_ticket", "N", 35, 0, False, None),
    ("q3", 5, "support_ticket", "O", 50, 0, False, None),
]
THEMES = {1: ("Export fails", "active"), 2: ("Dark mode", "active"), 3: ("SSO loops", "active"),
          4: ("Old theme", "faded"), 5: ("Search is slow", "active")}

# theme_id: (item_count, distinct_authors, support, community, support_share, votes,
#            recent, previous, growth, days_since_last)
EXPECTED_STATS = {
    1: (6, 4, 2, 4, 0.3333, 10, 3, 2, 1.3333, 0.0),
    2: (5, 3, 1, 4, 0.2, 35, 2, 2, 1.0, 5.0),
    5: (3, 3, 3, 0, 1.0, 0, 0, 0, 1.0, 30.0),
}


@pytest.fixture
def ranked_warehouse(warehouse):
    for theme_id, (title, status) in THEMES.items():
        warehouse.execute("INSERT INTO themes (theme_id, title, status) VALUES (?, ?, ?)",
                          [theme_id, title, status])
    for ext, theme_id, kind, author, days, votes, deleted, drop in ITEMS:
        created = AS_OF - timedelta(days=days)
        warehouse.execute(
            "INSERT INTO items (source, external_id, kind, author_hash, votes, created_at, "
            "updated_at, deleted, content_hash, drop_reason) "
            "VALUES ('forum', ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [ext, kind, author, votes, created, created, deleted, f"h-{ext}", drop],
        )
        warehouse.execute(
            "INSERT INTO item_themes (source, external_id, theme_id, similarity, run_id) "
            "VALUES ('forum', ?, ?, 0.9, 'run-1')", [ext, theme_id])
    warehouse.execute(
        "INSERT INTO runs (run_id, started_at, status) VALUES ('run-1', ?, 'running')", [AS_OF])
    return warehouse


def reference_scores(weights: RankWeights, half_life: float = 14.0) -> dict[int, float]:
    """The documented score, computed independently of rank.sql."""
    feats = {}
    for tid, (n, a, _s, _c, share, votes, _r, _p, growth, days) in EXPECTED_STATS.items():
        feats[tid] = {
            "volume": math.log(1 + n), "authors": math.log(1 + a), "growth": math.log(growth),
            "recency": math.exp(-math.log(2) * days / half_life), "votes": math.log(1 + votes),
            "support_share": share,
            "coherence": 0.0,  # the fixture's themes have no vectors: no coherence known
            "value": 0.0,  # no accounts loaded: the value component adds nothing
        }
    scores = dict.fromkeys(feats, 0.0)
    for comp in COMPONENTS:
        values = [f[comp] for f in feats.values()]
        lo, hi = min(values), max(values)
        for tid, f in feats.items():
            norm = f[comp] if comp == "support_share" else (
                (f[comp] - lo) / (hi - lo) if hi > lo else 0.0)
            scores[tid] += getattr(weights, comp) * norm
    return scores


def test_counts_per_theme(ranked_warehouse):
    ranking = rank_themes(ranked_warehouse, RankConfig(), run_id="run-1", as_of=AS_OF)

    got = {
        r["theme_id"]: (r["item_count"], r["distinct_authors"], r["support_count"],
                        r["community_count"], r["support_share"], r["votes"], r["recent_count"],
                        r["previous_count"], r["growth"], r["days_since_last"])
        for r in ranking
    }
    assert got == EXPECTED_STATS
    last_seen = {r["theme_id"]: r["last_seen"] for r in ranking}
    assert last_seen == {1: AS_OF, 2: AS_OF - timedelta(days=5), 5: AS_OF - timedelta(days=30)}


def test_themes_below_min_authors_or_not_active_are_not_ranked(ranked_warehouse):
    ranking = rank_themes(ranked_warehouse, RankConfig(), run_id="run-1", as_of=AS_OF)

    assert {r["theme_id"] for r in ranking} == {1, 2, 5}
    stored = ranked_warehouse.execute("SELECT theme_id FROM theme_scores ORDER BY 1").fetchall()
    assert stored == [(1,), (2,), (5,)]


def test_min_authors_is_a_parameter(ranked_warehouse):
    ranking = rank_themes(ranked_warehouse, RankConfig(min_authors=2), run_id="run-1", as_of=AS_OF)

    assert {r["theme_id"] for r in ranking} == {1, 2, 3, 5}
    ranking = rank_themes(ranked_warehouse, RankConfig(min_authors=4), run_id="run-1", as_of=AS_OF)

    assert [r["theme_id"] for r in ranking] == [1]


def test_ranks_follow_score(ranked_warehouse):
    ranking = rank_themes(ranked_warehouse, RankConfig(), run_id="run-1", as_of=AS_OF)

    assert [r["rank"] for r in ranking] == [1, 2, 3]
    scores = [r["score"] for r in ranking]
    assert scores == sorted(scores, reverse=True)
    assert [r["theme_id"] for r in ranking] == [1, 2, 5]
    assert [r["title"] for r in ranking] == ["Export fails", "Dark mode", "Search is slow"]


def test_scores_match_the_documented_formula(ranked_warehouse):
    ranking = rank_themes(ranked_warehouse, RankConfig(), run_id="run-1", as_of=AS_OF)

    expected = reference_scores(RankWeights())
    assert {r["theme_id"]: r["score"] for r in ranking} == pytest.approx(expected, abs=1e-3)


def test_breakdown_has_eight_components_summing_to_score(ranked_warehouse):
    ranking = rank_themes(ranked_warehouse, RankConfig(), run_id="run-1", as_of=AS_OF)

    for row in ranking:
        breakdown = json.loads(row["breakdown"])
        assert set(breakdown) == COMPONENTS
        for name, part in breakdown.items():
            # the value component also says why in words (tests/rank/test_value.py)
            assert set(part) - {"reason"} == {"value", "normalized", "weight", "points"}
            assert part["weight"] == getattr(RankWeights(), name)
            assert part["points"] == pytest.approx(part["weight"] * part["normalized"], abs=1e-3)
            assert 0.0 <= part["normalized"] <= 1.0
        assert sum(p["points"] for p in breakdown.values()) == pytest.approx(row["score"], abs=1e-3)
    top = json.loads(ranking[0]["breakdown"])
    assert (top["volume"]["value"], top["authors"]["value"], top["votes"]["value"]) == (6, 4, 10)


@pytest.mark.parametrize(
    ("weights", "order"),
    [
        (RankWeights(), [1, 2, 5]),
        (RankWeights(volume=0, authors=0, growth=0, recency=0, votes=1, support_share=0),
         [2, 1, 5]),
        (RankWeights(volume=0, authors=0, growth=0, recency=0, votes=0, support_share=1),
         [5, 1, 2]),
        (RankWeights(support_share=10.0), [5, 1, 2]),
    ],
    ids=["default", "votes-only", "support-only", "support-heavy"],
)
def test_weights_change_the_order(ranked_warehouse, weights, order):
    ranking = rank_themes(ranked_warehouse, RankConfig(weights=weights), run_id="run-1",
                          as_of=AS_OF)

    assert [r["theme_id"] for r in ranking] == order
    expected = reference_scores(weights)
    assert {r["theme_id"]: r["score"] for r in ranking} == pytest.approx(expected, abs=1e-3)


def test_rerank_of_a_run_replaces_its_rows(ranked_warehouse):
    rank_themes(ranked_warehouse, RankConfig(), run_id="run-1", as_of=AS_OF)
    rank_themes(ranked_warehouse, RankConfig(min_authors=4), run_id="run-1", as_of=AS_OF)

    rows = ranked_warehouse.execute("SELECT run_id, theme_id, rank FROM theme_scores").fetchall()
    assert rows == [("run-1", 1, 1)]


def test_latest_ranking_without_run_id_uses_the_newest_run(ranked_warehouse):
    ranked = rank_themes(ranked_warehouse, RankConfig(), run_id="run-1", as_of=AS_OF)

    assert latest_ranking(ranked_warehouse) == ranked


def test_as_of_latest_is_the_newest_kept_item(ranked_warehouse):
    # e9 (two days after AS_OF) is the newest non-deleted item
    assert resolve_as_of(ranked_warehouse, RankConfig(as_of="latest").as_of) == AS_OF + timedelta(days=2)
    fixed = datetime(2024, 1, 1)
    assert resolve_as_of(ranked_warehouse, RankConfig(as_of=fixed).as_of) == fixed.replace(tzinfo=UTC)


def test_coherence_is_in_the_breakdown_and_an_incoherent_theme_needs_review(ranked_warehouse):
    """Coherence is the mean member cosine to the centroid, |vector sum| / size: theme 1's six
    members pull one way (0.9), theme 2's five spread out (0.3); under min_coherence theme 2
    needs review, ranks after every coherent theme, and the breakdown says why."""
    for theme_id, total, size in ((1, [5.4, 0.0], 6), (2, [0.9, 1.2], 5)):
        ranked_warehouse.execute("UPDATE themes SET vector_sum = ?, size = ? WHERE theme_id = ?",
                                 [total, size, theme_id])
    ranking = rank_themes(ranked_warehouse, RankConfig(min_coherence=0.5), run_id="run-1",
                          as_of=AS_OF)
    by_id = {r["theme_id"]: r for r in ranking}
    assert by_id[1]["coherence"] == pytest.approx(0.9)
    assert by_id[2]["coherence"] == pytest.approx(0.3)
    assert [r["theme_id"] for r in ranking][-1] == 2 and by_id[2]["needs_review"]
    assert not by_id[1]["needs_review"] and not by_id[5]["needs_review"]  # 5: unknown, kept
    part = json.loads(by_id[1]["breakdown"])["coherence"]
    assert part["value"] == pytest.approx(0.9) and part["normalized"] == pytest.approx(1.0)
    assert json.loads(by_id[5]["breakdown"])["coherence"]["value"] is None
