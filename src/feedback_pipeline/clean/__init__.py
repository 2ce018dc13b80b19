"""Clean stage: from what a person posted to the text worth embedding, and its language.

``text.py`` is pure (HTML, quotes, signatures, noise); ``stage.py`` cleans what changed in the
warehouse; ``languages.py`` detects each kept item's language offline.
"""

from feedback_pipeline._exports import lazy

__all__ = ["clean_item", "clean_pending", "clean_text", "detect_language"]
__getattr__ = lazy(__name__, {"clean_item": "text", "clean_text": "text",
                              "clean_pending": "stage", "detect_language": "languages"})
