"""Clean stage: clean every item whose content changed since it was last cleaned, and detect
the language of each kept item (languages.py)."""

from __future__ import annotations

import duckdb
import pyarrow as pa

from feedback_pipeline.clean.config import CleanConfig
from feedback_pipeline.clean.languages import detect_language
from feedback_pipeline.clean.text import clean_item
from feedback_pipeline.fingerprint import fingerprint
from feedback_pipeline.warehouse.db import arrow_batches, transaction


BATCH_ROWS = 20_000  # items read, cleaned and committed together


def clean_pending(con: duckdb.DuckDBPyConnection, config: CleanConfig, *,
                  batch_rows: int = BATCH_ROWS) -> dict:
    """Clean new/edited items in place; return counts (cleaned, kept, dropped by reason).

    The items stream out of DuckDB in Arrow batches of ``batch_rows`` and each batch is
    committed before the next is read: a cold night of a million items holds one batch, not
    every text (issue #17), and a crash keeps the batches already cleaned.
    """
    cleaned = 0
    dropped: dict[str, int] = {}
    for batch in arrow_batches(
        con,
        """
        SELECT source, external_id, title, body, author_is_bot, deleted, content_hash
        FROM items WHERE clean_hash IS DISTINCT FROM content_hash
        """, {}, batch_rows,
    ):
        if batch.num_rows:
            staged = _clean_batch(batch, config, dropped)  # noqa: F841 - read by DuckDB by name
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
            cleaned += batch.num_rows
    return {"cleaned": cleaned, "kept": cleaned - sum(dropped.values()), "dropped": dropped}


def _clean_batch(batch: pa.RecordBatch, config: CleanConfig, dropped: dict[str, int]) -> pa.Table:
    """One batch's cleaned columns (``dropped`` counts the drop reasons)."""
    out: dict[str, list] = {k: [] for k in ("clean_text", "text_hash", "drop_reason",
                                            "language")}
    for title, body, bot, deleted in zip(
            *(batch[k].to_pylist() for k in ("title", "body", "author_is_bot", "deleted")),
            strict=True):
        cleaned = clean_item(title or "", body or "", None, config)
        reason = "deleted" if deleted else ("bot" if bot else cleaned.drop_reason)
        if reason:
            dropped[reason] = dropped.get(reason, 0) + 1
        out["clean_text"].append(cleaned.text)
        out["text_hash"].append(fingerprint(cleaned.text) if cleaned.text else None)
        out["drop_reason"].append(reason)
        out["language"].append(None if reason else detect_language(cleaned.text))
    return pa.table({"source": batch["source"], "external_id": batch["external_id"],
                     "clean_text": pa.array(out["clean_text"], pa.string()),
                     "text_hash": pa.array(out["text_hash"], pa.string()),
                     "drop_reason": pa.array(out["drop_reason"], pa.string()),
                     "clean_hash": batch["content_hash"],
                     "language": pa.array(out["language"], pa.string())})


__all__ = ["clean_pending"]
