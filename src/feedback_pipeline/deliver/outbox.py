"""The outbox: the ``deliveries`` table, the one record of what each sink sent or is to send.

Every sink writes its intent here before calling out (``record``) and the outcome after
(``settle``), under one key per deliverable (``jira:theme:<id>``, ``slack:digest:<date>``, a lineage
action's key), so a crash in between leaves a ``pending`` row that the next run resolves.
"""

from __future__ import annotations

import json
from typing import Literal

import duckdb

from feedback_pipeline.fingerprint import payload_fingerprint, payload_json

Change = Literal["created", "updated", "unchanged"]


def record(
    con: duckdb.DuckDBPyConnection, key: str, *, sink: str, theme_id: int | None, run_id: str,
    payload: dict, status: str, skip_unchanged: bool = False,
) -> Change:
    """Upsert the delivery ``key`` with ``payload`` and ``status`` (clearing any old error).

    Args:
        skip_unchanged: leave the row alone (and say 'unchanged') when it already holds this
            very payload; a sink about to send always records, so its retry is visible.
    """
    digest = payload_fingerprint(payload)
    row = con.execute("SELECT payload_hash, status FROM deliveries WHERE delivery_key = ?",
                      [key]).fetchone()
    # A retired row (its theme had merged or faded) that comes back is recorded again.
    if skip_unchanged and row and row[0] == digest and row[1] != "retired":
        return "unchanged"
    con.execute(
        """
        INSERT INTO deliveries (delivery_key, sink, theme_id, run_id, payload, payload_hash, status)
        VALUES (?, ?, ?, ?, ?, ?, ?)
        ON CONFLICT (delivery_key) DO UPDATE SET run_id = excluded.run_id,
            payload = excluded.payload, payload_hash = excluded.payload_hash,
            status = excluded.status, error = NULL, updated_at = now()
        """,
        [key, sink, theme_id, run_id, payload_json(payload), digest, status],
    )
    if not row:
        return "created"
    return "unchanged" if row[0] == digest else "updated"


def settle(con: duckdb.DuckDBPyConnection, key: str, *, status: str,
           external_ref: str | None = None, error: str | None = None) -> None:
    """The outcome of a delivery: ``sent`` (with the remote id), ``failed`` (with the error)."""
    con.execute(
        "UPDATE deliveries SET status = ?, external_ref = coalesce(?, external_ref), error = ?, "
        "updated_at = now() WHERE delivery_key = ?", [status, external_ref, error, key])


def set_external_ref(con: duckdb.DuckDBPyConnection, key: str, ref: str | None) -> None:
    """The remote id, as soon as the service returns it (before the outcome is known)."""
    con.execute("UPDATE deliveries SET external_ref = ?, updated_at = now() "
                "WHERE delivery_key = ?", [ref, key])


def note_error(con: duckdb.DuckDBPyConnection, sink: str, error: str) -> None:
    """Attach ``error`` to every pending delivery of ``sink`` (why the night stopped)."""
    con.execute("UPDATE deliveries SET error = ? WHERE sink = ? AND status = 'pending'",
                [error, sink])


def payload(con: duckdb.DuckDBPyConnection, key: str) -> dict | None:
    """The request last recorded under ``key`` (None if there is none)."""
    row = con.execute("SELECT payload FROM deliveries WHERE delivery_key = ?", [key]).fetchone()
    if row is None or row[0] is None:
        return None
    value = json.loads(row[0]) if isinstance(row[0], str) else row[0]
    return value if isinstance(value, dict) else None


def unsettled_themes(con: duckdb.DuckDBPyConnection, sink: str, key_prefix: str) -> set[int]:
    """Themes whose last request may or may not have reached ``sink`` (crash, timeout)."""
    rows = con.execute("SELECT theme_id FROM deliveries WHERE sink = ? AND starts_with("
                       "delivery_key, ?) AND status IN ('pending', 'failed')",
                       [sink, key_prefix]).fetchall()
    return {r[0] for r in rows}


__all__ = ["Change", "note_error", "payload", "record", "set_external_ref", "settle",
           "unsettled_themes"]
