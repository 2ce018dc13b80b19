"""Bounded full re-cluster (window.py, issue #17) on hand-made vectors: the window's cap, the
assignment of everything else, the member floor on that path, theme identity across nights,
and the streaming of vectors out of DuckDB."""

from __future__ import annotations

import numpy as np
import pytest

from feedback_pipeline.cluster import window as window_module
from feedback_pipeline.cluster.model import NOISE
from feedback_pipeline.cluster.window import _Neighbours, window_texts
from feedback_pipeline.warehouse import db as db_module
from feedback_pipeline.warehouse.db import arrow_batches, vectors_to_numpy
from tests.cluster.test_themes_lifecycle import AS_OF, CENTERS, DIM, Warehouse, _settings

BLOBS = ("export", "login", "billing", "mobile", "dark", "api")


def _windowed(size: int, **cluster):
    s = _settings()
    s.cluster = s.cluster.model_copy(update={"window_size": size, "batch_rows": 100, **cluster})
    return s


@pytest.fixture
def big() -> Warehouse:
    wh = Warehouse()
    for k, name in enumerate(BLOBS):
        wh.add(name, 70, days_ago=200 - 30 * k)  # older months
        wh.add(name, 10, days_ago=3)  # recent
    return wh


def _stored(wh: Warehouse) -> dict:
    rows = wh.con.execute(
        "SELECT it.external_id, it.theme_id, it.method, e.vector, t.centroid FROM item_themes it "
        "JOIN embeddings e ON e.text_hash = it.text_hash LEFT JOIN themes t USING (theme_id)"
    ).fetchall()
    return {r[0]: r[1:] for r in rows}


def test_the_window_honours_its_cap_and_takes_the_recent_texts_first(big):
    s = _windowed(200, window_recent_share=0.5, window_recent_days=30)
    hashes = window_texts(big.con, "synthetic", s.cluster, AS_OF)
    assert len(hashes) == 200 and len(set(hashes)) == 200
    recent = {r[0] for r in big.con.execute(
        "SELECT text_hash FROM items WHERE created_at >= ?", [AS_OF - np.timedelta64(30, "D")
                                                             .astype(object)]).fetchall()}
    assert recent == set(hashes[:60])  # all 60 recent texts fit in the recent half
    # The older part is stratified: every month (one blob each here) is represented, in
    # proportion to its size (70 of 420 older texts each, so ~23 of 140).
    older = set(hashes[60:])
    per_month = big.con.execute(
        "SELECT date_trunc('month', created_at) AS m, count(*) FILTER (WHERE list_contains(?, "
        "text_hash)) FROM items WHERE created_at < ? GROUP BY m ORDER BY m",
        [sorted(older), AS_OF - np.timedelta64(30, "D").astype(object)]).fetchall()
    assert all(15 <= n <= 32 for _, n in per_month), per_month
    assert window_texts(big.con, "synthetic", s.cluster, AS_OF) == hashes  # same every night
    assert window_texts(big.con, "synthetic", _windowed(480).cluster, AS_OF) is None
    assert window_texts(big.con, "synthetic", _windowed(0).cluster, AS_OF) is None


def test_a_windowed_full_recluster_places_every_item_and_keeps_the_floor(big):
    outliers = big.add(np.random.default_rng(99).normal(size=DIM), 1, spread=0.0)
    outliers += [big.add(np.random.default_rng(100 + i).normal(size=DIM), 1, spread=0.0)[0]
                 for i in range(5)]
    s = _windowed(150)
    stats = big.night(s, full=True)
    assert stats["window"]["window_texts"] == 150 and stats["items"] == 486
    stored = _stored(big)
    assert len(stored) == 486
    assert stats["themes"] == len(BLOBS)
    # Each blob is one theme, whichever path placed its items.
    for name in BLOBS:
        members = big.con.execute("SELECT external_id FROM items WHERE clean_text LIKE ?",
                                  [WORDS_PREFIX[name] + "%"]).fetchall()
        assert len(big.theme_of([m[0] for m in members]) - {NOISE}) == 1
    assert {v[1] for v in stored.values()} == {"clustered", "assigned"}
    # The member floor holds against the stored centroid on the assignment path too.
    floor = s.cluster.member_min_similarity
    for ext, (theme, _method, vector, centroid) in stored.items():
        if theme != NOISE:
            assert float(np.dot(vector, centroid)) >= floor - 1e-6, ext
    # An outlier no theme is close to stays noise; one that is close enough may join.
    C = np.array([r[0] for r in big.con.execute(
        "SELECT centroid FROM themes WHERE status = 'active'").fetchall()])
    far = [e for e in outliers if float((C @ stored[e][2]).max()) < floor]
    assert far and all(stored[e][0] == NOISE for e in far)
    # Theme sizes count the assigned members as well.
    sizes = dict(big.con.execute("SELECT theme_id, size FROM themes WHERE status = 'active'")
                 .fetchall())
    counts = dict(big.con.execute("SELECT theme_id, count(*) FROM item_themes "
                                  "WHERE theme_id <> -1 GROUP BY ALL").fetchall())
    assert sizes == counts


WORDS_PREFIX = {name: w for name, w in __import__(
    "tests.cluster.test_themes_lifecycle", fromlist=["WORDS"]).WORDS.items()}


def test_a_floor_above_the_blobs_spread_leaves_assigned_items_as_noise(big):
    s = _windowed(150, member_min_similarity=0.995)
    big.night(s, full=True)
    for _ext, (theme, _m, vector, centroid) in _stored(big).items():
        if theme != NOISE:
            assert float(np.dot(vector, centroid)) >= 0.995 - 1e-6


def test_theme_ids_survive_windowed_nights(big):
    s = _windowed(150)
    big.night(s, full=True)
    before = dict(big.con.execute("SELECT external_id, theme_id FROM item_themes").fetchall())
    again = big.night(s, full=True)
    assert again["new_themes"] == 0 and again["faded_themes"] == 0
    after = dict(big.con.execute("SELECT external_id, theme_id FROM item_themes").fetchall())
    assert after == before
    # An incremental night after a windowed one places new items into the same themes.
    new = big.add("export", 5, days_ago=0.5)
    inc = big.night(s, as_of=AS_OF)
    assert inc["mode"] == "incremental"
    export = {before[e] for e in before if big.con.execute(
        "SELECT clean_text FROM items WHERE external_id = ?", [e]).fetchone()[0]
        .startswith(WORDS_PREFIX["export"])}
    assert big.theme_of(new) == export


def test_below_the_cap_the_clustering_is_what_it_was(big):
    big.night(_windowed(0), full=True)
    unbounded = big.con.execute("SELECT external_id, theme_id, method FROM item_themes "
                                "ORDER BY ALL").fetchall()
    other = Warehouse()
    for k, name in enumerate(BLOBS):
        other.add(name, 70, days_ago=200 - 30 * k)
        other.add(name, 10, days_ago=3)
    other.night(_windowed(480), full=True)
    assert other.con.execute("SELECT external_id, theme_id, method FROM item_themes "
                             "ORDER BY ALL").fetchall() == unbounded


def test_the_index_votes_as_exact_search_does(monkeypatch):
    rng = np.random.default_rng(3)
    centers = np.stack([CENTERS[b] for b in BLOBS])
    labels = np.repeat(np.arange(len(BLOBS)), 200)
    X = centers[labels] + rng.normal(scale=0.15, size=(len(labels), DIM))
    X = (X / np.linalg.norm(X, axis=1, keepdims=True)).astype(np.float32)
    labels[::7] = NOISE
    Q = centers[rng.integers(0, len(BLOBS), 500)] + rng.normal(scale=0.15, size=(500, DIM))
    Q = (Q / np.linalg.norm(Q, axis=1, keepdims=True)).astype(np.float32)
    exact = _Neighbours(X, labels, 10, 0)
    assert exact.index is None
    monkeypatch.setattr(window_module, "EXACT_MAX", 0)
    hnsw = _Neighbours(X, labels, 10, 0)
    assert hnsw.index is not None
    # Brute force: the majority label of the 10 nearest by cosine, nearest first on ties.
    S = Q @ X.T
    nearest = np.argsort(-S, axis=1)[:, :10]
    brute = []
    for row in labels[nearest]:
        values, counts = np.unique(row, return_counts=True)
        best = values[counts == counts.max()]
        brute.append(next(v for v in row if v in best))
    assert exact.votes(Q).tolist() == brute
    assert (hnsw.votes(Q) == np.array(brute)).mean() >= 0.99


def test_vectors_stream_out_in_bounded_arrow_batches(big):
    sizes = []
    total = 0
    for batch in arrow_batches(big.con, "SELECT e.vector FROM embeddings e", {}, rows=64):
        X = vectors_to_numpy(batch["vector"])
        assert X.dtype == np.float32 and X.shape[1] == DIM
        sizes.append(len(X))
        total += len(X)
    assert total == 480 and max(sizes) <= 64 * 2 and len(sizes) >= 480 // 128
    # The connection stays usable for writes while a stream is open.
    stream = arrow_batches(big.con, "SELECT e.vector FROM embeddings e", {}, rows=64)
    next(stream)
    big.con.execute("CREATE TEMP TABLE t AS SELECT 1 AS x")
    assert sum(b.num_rows for b in stream) > 0


def _with_copies(wh: Warehouse) -> Warehouse:
    """Two more items sharing the texts of earlier ones (one vector, several items)."""
    wh.con.execute("INSERT INTO items SELECT * REPLACE ('copy-' || external_id AS external_id) "
                   "FROM items WHERE external_id IN ('i1', 'i2')")
    return wh


def test_outside_items_stream_from_a_plain_scan_of_the_vectors(big, monkeypatch):
    """The items outside the window meet their vectors one batch at a time, never in a DuckDB
    join (issue #17: a join's hash table could hold every vector of the warehouse), and the
    batch size does not change where anything goes."""
    streamed: list[tuple[str, int]] = []
    real = db_module.arrow_batches

    def recording(con, sql, params, rows):
        for batch in real(con, sql, params, rows):
            streamed.append((sql, batch.num_rows))
            yield batch

    monkeypatch.setattr(db_module, "arrow_batches", recording)
    _with_copies(big).night(_windowed(150), full=True)
    assert streamed and all("JOIN" not in sql.upper() for sql, _ in streamed)
    assert max(n for _, n in streamed) <= 2 * 100
    placed = dict(big.con.execute("SELECT external_id, theme_id FROM item_themes").fetchall())
    assert len(placed) == 482 and placed["copy-i1"] == placed["i1"]
    assert placed["copy-i2"] == placed["i2"]

    one_batch = Warehouse()
    for k, name in enumerate(BLOBS):
        one_batch.add(name, 70, days_ago=200 - 30 * k)
        one_batch.add(name, 10, days_ago=3)
    _with_copies(one_batch).night(_windowed(150, batch_rows=10_000), full=True)
    assert dict(one_batch.con.execute(
        "SELECT external_id, theme_id FROM item_themes").fetchall()) == placed


def _incremental_after_full(forget_bounds: bool) -> tuple[list, Warehouse]:
    wh = Warehouse()
    for name in BLOBS[:3]:
        wh.add(name, 40, days_ago=20)
    s = _settings()
    wh.night(s, full=True)
    if forget_bounds:  # as in a warehouse from before the bound, or after a person's merge
        wh.con.execute("UPDATE themes SET member_bound = NULL")
    for name in BLOBS[:3]:
        wh.add(name, 6, days_ago=0.5, spread=0.3)  # loose newcomers pull the centroids
    stats = wh.night(s, as_of=AS_OF)
    assert stats["mode"] == "incremental" and stats["assigned"] > 0
    rows = wh.con.execute("SELECT external_id, theme_id FROM item_themes ORDER BY ALL").fetchall()
    return rows, wh


def test_an_incremental_night_trusts_the_member_bound_only_where_it_holds():
    with_bound, wh = _incremental_after_full(forget_bounds=False)
    without, _ = _incremental_after_full(forget_bounds=True)
    # The bound only spares reading the members again: the placements are the same.
    assert with_bound == without
    # Every stored bound that is still valid is a true lower bound of the members' cosine to
    # the stored centroid.
    checked = 0
    for ext, (theme, _m, vector, centroid) in _stored(wh).items():
        if theme == NOISE:
            continue
        bound, valid = wh.con.execute(
            "SELECT member_bound, member_bound_size = size FROM themes WHERE theme_id = ?",
            [theme]).fetchone()
        if bound is not None and valid:
            assert float(np.dot(vector, centroid)) >= bound - 1e-6, ext
            checked += 1
    assert checked > 100
