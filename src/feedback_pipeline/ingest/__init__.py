"""Ingest stage: pull new and changed records from every source into the warehouse.

``stage.py`` commits each batch with its cursor; ``files.py`` reads JSONL/CSV exports; one folder
per HTTP connector (Discourse, Slack, GitHub, Zendesk, Intercom) holds its ``config.py``, its
``fetch.py`` (raw pages) and a pure ``mapping.py`` (payload -> Item/Rejection), all sharing
``http.py`` (timeouts, retries honouring ``Retry-After``, token redaction, clear errors),
``paginate.py`` (pagination strategies) and ``connector.py`` (cursor and batch helpers).
"""

from feedback_pipeline._exports import lazy

__all__ = ["Batch", "FileSource", "IngestStats", "Source", "build_sources", "get_cursor",
           "ingest", "save_batch"]
__getattr__ = lazy(__name__, {
    "Batch": "source", "Source": "source", "FileSource": "files", "build_sources": "sources",
    "IngestStats": "stage", "get_cursor": "stage", "ingest": "stage", "save_batch": "stage"})
