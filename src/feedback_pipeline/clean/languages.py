"""Languages: detect each item's language offline (the clean stage stores it per item).

Detection uses py3langid (a maintained fork of langid.py: a 4.5 MB naive-Bayes model over byte
n-grams, no network, ~0.3 ms per short text). It is restricted to the languages a software
community plausibly writes in, which removes most confusions on short English texts (on the
3,080 Banking77 test queries: 5 non-English guesses unrestricted, none restricted). A guess whose
normalised probability is below ``MIN_CONFIDENCE`` is stored as ``und`` (undetermined).

Keeping languages apart when clustering is ``cluster/languages.py``.
"""

from __future__ import annotations

from functools import lru_cache

from feedback_pipeline.errors import ModelError

UNDETERMINED = "und"
PRIMARY = "en"  # what the English-only default model understands
MIN_CONFIDENCE = 0.3
# ISO 639-1 codes py3langid knows; what users of a software product plausibly write in.
LANGUAGES = (
    "en", "de", "fr", "es", "pt", "it", "nl", "pl", "sv", "da", "no", "fi", "cs", "sk", "hu",
    "ro", "bg", "el", "ru", "uk", "tr", "ar", "he", "hi", "id", "vi", "th", "ja", "zh", "ko",
    # Slovenian: a community this product was first written for (without it, Slovenian was read
    # as Slovak or Czech; with it, no English text of Banking77 or Stack Exchange changes).
    "sl",
)


@lru_cache(maxsize=1)
def _identifier():  # noqa: ANN202 - py3langid's LanguageIdentifier, imported lazily
    try:
        from py3langid.langid import MODEL_FILE, LanguageIdentifier
    except ImportError as exc:
        raise ModelError("language detection needs py3langid: pip install py3langid") from exc
    identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    identifier.set_languages(list(LANGUAGES))
    return identifier


def detect_language(text: str) -> str:
    """ISO 639-1 code of ``text``'s language, or ``und`` when unsure or empty."""
    if not text or not text.strip():
        return UNDETERMINED
    lang, prob = _identifier().classify(text)
    return str(lang) if prob >= MIN_CONFIDENCE else UNDETERMINED


__all__ = ["LANGUAGES", "PRIMARY", "UNDETERMINED", "detect_language"]
