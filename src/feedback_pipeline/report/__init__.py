"""Views for people: terminal tables and artifacts (``terminal.py``), the self-contained PM page
(``html.py``: what it reads in ``data.py``, its top in ``summary.py``, a theme's card in
``cards.py``, CSS and JavaScript in ``templates/``), and what the last runs did (``status.py``)."""

from feedback_pipeline._exports import lazy

__all__ = ["ranking_table", "theme_detail", "warehouse_status", "write_report"]
__getattr__ = lazy(__name__, {"ranking_table": "terminal", "theme_detail": "terminal",
                              "write_report": "html", "warehouse_status": "status"})
