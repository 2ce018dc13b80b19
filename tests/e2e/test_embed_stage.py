"""The embed stage with the real default model: batching, caching, model switch."""

from __future__ import annotations

import numpy as np
import pytest

from feedback_pipeline.clean.stage import clean_pending
from feedback_pipeline.config import CleanConfig
from feedback_pipeline.embed.stage import embed_pending
from feedback_pipeline.ingest.source import Batch
from feedback_pipeline.ingest.stage import save_batch
from feedback_pipeline.records import item_from_mapping
from feedback_pipeline.warehouse.db import connect

pytestmark = pytest.mark.slow

TEXTS = [
    "How do I export my data to CSV?",
    "Is there a way to download all my data as a spreadsheet?",
    "The app crashes every time I open settings",
    "How do I export my data to CSV?",  # exact duplicate text: embedded once
    "ok",  # too short: never embedded
]


def _load(con, texts):
    items = [item_from_mapping({"source": "t", "kind": "community_post", "external_id": str(i),
                                "body": t, "created_at": "2026-11-01T00:00:00Z"},
                               max_body_chars=10_000) for i, t in enumerate(texts)]
    save_batch(con, "t", Batch(items=items), run_id="r", salt="s", bots=CleanConfig().bots())
    clean_pending(con, CleanConfig())


def test_model_gives_normalised_semantic_vectors(embedder):
    v = embedder.embed(TEXTS[:3])
    assert v.shape == (3, 384) and v.dtype == np.float32
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-4)
    assert v[0] @ v[1] > v[0] @ v[2] + 0.2  # paraphrases closer than unrelated texts


def test_embed_pending_caches_by_text_and_model(embedder):
    con = connect(":memory:")
    _load(con, TEXTS)
    assert embed_pending(con, embedder)["embedded"] == 3
    assert embed_pending(con, embedder)["embedded"] == 0
    con.execute("UPDATE items SET body = 'How can I reset my password?' WHERE external_id = '2'")
    con.execute("UPDATE items SET content_hash = 'changed' WHERE external_id = '2'")
    clean_pending(con, CleanConfig())
    assert embed_pending(con, embedder)["embedded"] == 1
    assert con.execute("SELECT count(*) FROM embeddings").fetchone()[0] == 4
    assert con.execute("SELECT len(vector) FROM embeddings LIMIT 1").fetchone()[0] == 384
