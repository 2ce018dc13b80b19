"""Keywords in the theme's language: its stop words and tokens, never English rules for all."""

from __future__ import annotations

import numpy as np
import pytest

from feedback_pipeline.cluster.config import LabelConfig
from feedback_pipeline.cluster.keywords import (
    candidate_terms,
    class_tfidf_keywords,
    stop_words,
    theme_languages,
    tokens,
)
from feedback_pipeline.cluster.label import label_themes, mmr_quotes

RUSSIAN = [
    "Не могу войти в аккаунт после обновления пароля",
    "Как мне сбросить пароль, если я не помню почту?",
    "После смены пароля я не могу войти в приложение",
    "Пароль не подходит, войти в аккаунт невозможно",
    "Я забыл пароль и теперь не могу войти",
    "Почему пароль не принимается при входе в аккаунт?",
]
RUSSIAN_EXPORT = [
    "Как выгрузить отчёт в Excel?",
    "Экспорт отчёта в CSV не работает",
    "Нужно выгрузить все данные отчёта в таблицу",
    "Кнопка экспорта отчёта пропала",
    "Можно ли выгружать отчёт каждую неделю автоматически?",
]
POLISH = [
    "Nie mogę zalogować się do konta po zmianie hasła",
    "Jak zresetować hasło, jeśli nie pamiętam adresu e-mail?",
    "Po zmianie hasła nie mogę się zalogować w aplikacji",
    "Hasło nie działa i nie mogę się zalogować",
    "Zapomniałem hasła i teraz nie mogę się zalogować",
]
POLISH_EXPORT = [
    "Jak wyeksportować raport do Excela?",
    "Eksport raportu do CSV nie działa",
    "Muszę wyeksportować wszystkie dane raportu",
    "Przycisk eksportu raportu zniknął",
    "Czy można eksportować raport co tydzień?",
]


@pytest.mark.parametrize(("language", "texts", "others", "expected", "stop"), [
    ("ru", RUSSIAN, RUSSIAN_EXPORT, "пароль", {"не", "в", "я", "как", "мне", "если", "после"}),
    ("pl", POLISH, POLISH_EXPORT, "hasła", {"nie", "się", "do", "jak", "po", "i", "w"}),
])
def test_keywords_of_a_theme_use_its_language(language, texts, others, expected, stop):
    labels = np.array([0] * len(texts) + [1] * len(others))
    keywords = class_tfidf_keywords(texts + others, labels, 8, [language] * len(labels))
    words = {w for kw in keywords[0] for w in kw.split()}
    assert expected in keywords[0][:3] or any(expected in kw for kw in keywords[0][:3])
    assert not words & stop, words & stop
    # With English rules the same theme's keywords would be full of its stop words.
    english = class_tfidf_keywords(texts + others, labels, 8, ["en"] * len(labels))
    assert {w for kw in english[0] for w in kw.split()} & stop


def test_stop_words_come_from_the_maintained_lists():
    for language in ("en", "de", "fr", "es", "pt", "ru", "pl", "sl"):
        assert len(stop_words(language)) > 100, language
    assert "und" in stop_words("de") and "je" in stop_words("sl") and "что" in stop_words("ru")
    # Undetermined or unknown languages fall back to English.
    assert stop_words("und") == stop_words("en") == stop_words("xx")


def test_tokens_split_elisions_only_where_the_language_elides():
    assert tokens("L'application plante à l'ouverture", "fr") == [
        "l", "application", "plante", "à", "l", "ouverture"]
    assert candidate_terms("L'application plante", "fr") == [
        "application", "plante", "application plante"]
    assert "don't" in tokens("I don't see the export", "en")
    assert tokens("Nie mogę się zalogować", "pl") == ["nie", "mogę", "się", "zalogować"]


def test_candidate_phrases_never_start_or_end_with_a_stop_word():
    terms = candidate_terms("I want to change the address of my card", "en")
    assert "change" in terms and "address" in terms and "card" in terms
    assert all(t.split()[0] not in stop_words("en") and t.split()[-1] not in stop_words("en")
               for t in terms)
    assert "address of my card" not in terms  # four words
    assert not any(t.startswith("want to") for t in terms if "want" in stop_words("en"))


def test_a_theme_takes_the_language_of_most_of_its_members():
    labels = np.array([0, 0, 0, 1, 1, -1])
    assert theme_languages(labels, ["ru", "ru", "en", None, "und", "pl"]) == {0: "ru", 1: "en"}


def test_label_titles_are_phrases_of_the_theme_and_differ_between_themes():
    texts = RUSSIAN + RUSSIAN_EXPORT
    labels = np.array([0] * len(RUSSIAN) + [1] * len(RUSSIAN_EXPORT))
    sim = np.linspace(0.9, 0.5, len(texts)).astype(np.float32)
    out = label_themes(texts, labels, sim, LabelConfig(), languages=["ru"] * len(texts))
    assert out[0].title != out[1].title
    assert out[0].title.lower() in " ".join(RUSSIAN).lower()
    assert out[0].sentence == RUSSIAN[0]  # the most representative sentence is kept beside it
    assert "пароль" in out[0].title.lower() or "войти" in out[0].title.lower()


def test_quotes_by_marginal_relevance_cover_the_theme_rather_than_repeat_it():
    e = np.eye(3, dtype=np.float32)
    near = e[0] * 0.99 + e[1] * 0.01
    near /= np.linalg.norm(near)
    vectors = np.stack([e[0], near, e[0] * 0.8 + e[1] * 0.6, e[0] * 0.8 + e[2] * 0.6])
    texts = ["top up pending", "top-up pending?", "top up failed", "top up limit"]
    rows = np.arange(4)
    relevance = np.array([0.95, 0.94, 0.8, 0.8], np.float32)
    picked = mmr_quotes(texts, rows, relevance, vectors, 3)
    assert picked[0] == 0 and 1 not in picked  # the paraphrase of the first is skipped
    assert sorted(picked) == [0, 2, 3]
    # Without vectors: the most relevant distinct texts; an exact repeat never counts twice.
    assert mmr_quotes(["a", "A ", "b"], np.arange(3), np.array([0.9, 0.8, 0.7]), None, 2) == [0, 2]
