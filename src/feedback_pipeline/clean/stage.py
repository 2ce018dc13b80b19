"""Clean stage: clean every item whose content changed since it was last cleaned, and detect
the language of each kept item (languages.py)."""

from __future__ import annotations

import duckdb
import pyarrow as pa

from feedback_pipeline.clean.config import CleanConfig
from feedback_pipeline.clean.languages import detect_language
from feedback_pipeline.clean.text import clean_item
from feedback_pipeline.fingerprint import fingerprint
from feedback_pipeline.warehouse.db import transaction


def clean_pending(con: duckdb.DuckDBPyConnection, config: CleanConfig) -> dict:
    """Clean new/edited items in place; return counts (cleaned, kept, dropped by reason)."""
    rows = con.execute(
        """
        SELECT source, external_id, title, body, author_is_bot, deleted, content_hash
        FROM items WHERE clean_hash IS DISTINCT FROM content_hash
        """
    ).fetchall()
    out: dict[str, list] = {k: [] for k in ("source", "external_id", "clean_text", "text_hash",
                                            "drop_reason", "clean_hash", "language")}
    dropped: dict[str, int] = {}
    for source, external_id, title, body, bot, deleted, content_hash in rows:
        cleaned = clean_item(title or "", body or "", None, config)
        reason = "deleted" if deleted else ("bot" if bot else cleaned.drop_reason)
        if reason:
            dropped[reason] = dropped.get(reason, 0) + 1
        out["source"].append(source)
        out["external_id"].append(external_id)
        out["clean_text"].append(cleaned.text)
        out["text_hash"].append(fingerprint(cleaned.text) if cleaned.text else None)
        out["drop_reason"].append(reason)
        out["clean_hash"].append(content_hash)
        out["language"].append(None if reason else detect_language(cleaned.text))
    if rows:
        staged = pa.table(out)  # noqa: F841 - read by DuckDB by name
        with transaction(con):
            con.execute(
                """
                UPDATE items SET clean_text = s.clean_text, text_hash = s.text_hash,
                                 drop_reason = s.drop_reason, clean_hash = s.clean_hash,
                                 language = s.language, item_type = NULL  -- re-typed after embed
                FROM staged s
                WHERE items.source = s.source AND items.external_id = s.external_id
                """
            )
    return {"cleaned": len(rows), "kept": len(rows) - sum(dropped.values()), "dropped": dropped}


__all__ = ["clean_pending"]
