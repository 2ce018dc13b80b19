"""The window's UMAP neighbourhood (window.py, ``window_config``; issue #17): a big warehouse
repeats its requests, so a window holds several rewordings of each and a fixed 15 neighbours
span only a few requests. The neighbourhood grows with the window; below it nothing changes."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import normalized_mutual_info_score

from feedback_pipeline.cluster import model as model_module
from feedback_pipeline.cluster.config import ClusterConfig
from feedback_pipeline.cluster.model import NOISE, ThemeClusterer
from feedback_pipeline.cluster.window import window_config
from tests.cluster.test_themes_lifecycle import Warehouse
from tests.cluster.test_window import BLOBS, _windowed


def test_the_neighbourhood_is_a_share_of_the_window_never_below_the_default():
    cfg = ClusterConfig()
    assert cfg.umap_neighbors == 15
    assert window_config(cfg, 50_000).umap_neighbors == 75  # 0.0015 x 50,000
    assert window_config(cfg, 4_000).umap_neighbors == 15  # a small window keeps 15
    assert window_config(cfg.model_copy(update={"window_umap_fraction": 0.0}),
                         50_000).umap_neighbors == 15
    assert window_config(cfg.model_copy(update={"umap_neighbors": 100}),
                         50_000).umap_neighbors == 100
    # Only the neighbourhood changes; every other setting is the caller's.
    scaled = window_config(cfg, 50_000)
    assert scaled.model_dump(exclude={"umap_neighbors"}) == cfg.model_dump(
        exclude={"umap_neighbors"})
    assert cfg.umap_neighbors == 15  # not modified in place


@pytest.fixture
def spy(monkeypatch) -> list[int]:
    """The UMAP neighbours every ThemeClusterer.fit was configured with (the fit runs as is)."""
    seen: list[int] = []
    fit = ThemeClusterer.fit

    def recording(self, X, **kw):
        seen.append(self.config.umap_neighbors)
        return fit(self, X, **kw)

    monkeypatch.setattr(model_module.ThemeClusterer, "fit", recording)
    return seen


def _blobs() -> Warehouse:
    wh = Warehouse()
    for k, name in enumerate(BLOBS):
        wh.add(name, 70, days_ago=200 - 30 * k)
        wh.add(name, 10, days_ago=3)
    return wh


def test_a_windowed_night_clusters_with_the_window_s_neighbourhood(spy):
    wh = _blobs()
    stats = wh.night(_windowed(150, window_umap_fraction=0.2), full=True)
    assert spy == [30]  # 0.2 x the 150 window texts
    assert stats["window"]["umap_neighbors"] == {"en": 30}
    assert stats["themes"] == len(BLOBS)


def test_each_language_group_of_a_window_gets_a_share_of_its_own_size(spy):
    wh = _blobs()
    wh.add("export", 40, days_ago=1, language="fr")  # a French group of 40 texts
    stats = wh.night(_windowed(200, window_umap_fraction=0.5), full=True)
    groups = stats["window"]["umap_neighbors"]
    assert set(groups) == {"en", "fr"} and sorted(spy) == sorted(groups.values())
    # Each group gets a share of its own texts in the window: the 40 French ones are the
    # newest (all in it), the other 160 English.
    assert groups == {"fr": 20, "en": 80}


def test_below_the_window_the_neighbourhood_is_untouched(spy):
    wh = _blobs()
    stats = wh.night(_windowed(480, window_umap_fraction=0.2), full=True)
    assert spy == [15] and "window" not in stats


def _requests(copies: int) -> tuple[np.ndarray, np.ndarray]:
    """8 topics of 50 distinct requests each (cosine ~0.64 to the topic), every request
    written ``copies`` times in nearly the same words (cosine ~0.99 to each other)."""
    rng = np.random.default_rng(0)
    dim, topics, per_topic = 32, 8, 50

    def unit(a: np.ndarray) -> np.ndarray:
        return a / np.linalg.norm(a, axis=1, keepdims=True)

    centers = unit(rng.normal(size=(topics, dim)))
    requests = unit(np.repeat(centers, per_topic, 0)
                    + rng.normal(0, 1.2 / np.sqrt(dim), (topics * per_topic, dim)))
    X = unit(np.repeat(requests, copies, 0)
             + rng.normal(0, 0.1 / np.sqrt(dim), (topics * per_topic * copies, dim)))
    return X.astype(np.float32), np.repeat(np.arange(topics), per_topic * copies)


@pytest.mark.slow
def test_a_window_of_repeated_requests_finds_the_topics_the_distinct_requests_give():
    distinct, topic = _requests(1)
    once = ThemeClusterer(ClusterConfig(min_cluster_size=10)).fit(distinct).labels_
    assert normalized_mutual_info_score(topic, once) >= 0.95
    # Six rewordings of each request, the minimum theme size scaled with them (as a window's
    # share is): with 15 neighbours each point's neighbourhood is its own copies and ~2 other
    # requests, the reduced space falls into clumps and most of it is left as noise.
    X, topic = _requests(6)
    cfg = ClusterConfig(min_cluster_size=60, window_umap_fraction=0.0375)
    fixed = ThemeClusterer(cfg).fit(X).labels_
    assert normalized_mutual_info_score(topic, fixed) < 0.7 and (fixed == NOISE).mean() > 0.3
    scaled_cfg = window_config(cfg, len(X))
    assert scaled_cfg.umap_neighbors == 90
    scaled = ThemeClusterer(scaled_cfg).fit(X).labels_
    assert normalized_mutual_info_score(topic, scaled) >= 0.95
    assert len(set(scaled.tolist()) - {NOISE}) == 8 and (scaled == NOISE).mean() < 0.05
