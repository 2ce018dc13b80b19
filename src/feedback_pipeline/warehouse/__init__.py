"""The warehouse: the DuckDB connection (``db``) and the runs table (``runs``).

Every stage reads and writes through these; the SQL itself (schema, ranking, trends) lives in the
repository's ``warehouse/`` folder and ships inside the wheel.
"""

from feedback_pipeline._exports import lazy

__all__ = ["Run", "connect", "open_run", "transaction"]
__getattr__ = lazy(__name__, {"connect": "db", "transaction": "db", "Run": "runs",
                              "open_run": "runs"})
