"""The sink's outbox rows: ``slack_digests`` (own table) and ``deliveries`` (shared outbox).

Intent is written before any Slack call, each message ``ts`` right after Slack returns it, the
outcome at the end; every write commits at once so a crash in between loses nothing.
The ``deliveries`` rows go through ``feedback_pipeline.deliver.outbox``, like every sink's; the
message hashes are ``feedback_pipeline.fingerprint.payload_fingerprint``.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from feedback_pipeline.deliver import outbox


@dataclass
class DigestRow:
    key: str
    status: str
    channel_id: str | None
    ts: str | None
    reply_ts: str | None
    main_hash: str | None
    reply_hash: str | None
    attempts: int
    channel: str | None = None  # as configured when the row was last attempted


def load_row(con: duckdb.DuckDBPyConnection, key: str) -> DigestRow | None:
    row = con.execute(
        "SELECT digest_key, status, channel_id, ts, reply_ts, main_hash, reply_hash, attempts, "
        "channel FROM slack_digests WHERE digest_key = ?", [key]).fetchone()
    return DigestRow(*row) if row else None


def record_intent(con: duckdb.DuckDBPyConnection, digest: dict, *, mode: str, channel: str,
                  run_id: str, status: str = "pending") -> None:
    """Before calling Slack: the digest row (attempts + 1) and the deliveries row, both pending."""
    key = digest["key"]
    con.execute(
        """
        INSERT INTO slack_digests (digest_key, digest_date, mode, channel, status, run_id, attempts)
        VALUES (?, ?, ?, ?, ?, ?, 1)
        ON CONFLICT (digest_key) DO UPDATE SET status = excluded.status, run_id = excluded.run_id,
            mode = excluded.mode, channel = excluded.channel,
            attempts = slack_digests.attempts + 1, error = NULL, updated_at = now()
        """, [key, digest["date"], mode, channel, status, run_id])
    delivery_status = "skipped" if status == "silent" else "pending"
    outbox.record(con, key, sink="slack", theme_id=None, run_id=run_id, payload=digest,
                  status=delivery_status)


def record_channel(con: duckdb.DuckDBPyConnection, key: str, channel_id: str) -> None:
    """Before the first post: the conversation ID every later call (and a recovery) uses."""
    con.execute("UPDATE slack_digests SET channel_id = ?, updated_at = now() "
                "WHERE digest_key = ? AND channel_id IS DISTINCT FROM ?", [channel_id, key,
                                                                          channel_id])


def record_message(con: duckdb.DuckDBPyConnection, key: str, *, part: str, ts: str | None,
                   channel_id: str | None, digest_hash: str | None) -> None:
    """Right after Slack answered: the ts of the main message or of the thread reply."""
    if part == "main":
        con.execute("UPDATE slack_digests SET ts = ?, channel_id = coalesce(?, channel_id), "
                    "main_hash = ?, updated_at = now() WHERE digest_key = ?",
                    [ts, channel_id, digest_hash, key])
        outbox.set_external_ref(con, key, ts)
    else:
        con.execute("UPDATE slack_digests SET reply_ts = ?, reply_hash = ?, updated_at = now() "
                    "WHERE digest_key = ?", [ts, digest_hash, key])


def record_outcome(con: duckdb.DuckDBPyConnection, key: str, *, status: str,
                   error: str | None = None) -> None:
    """``sent`` or ``failed`` (with the error) on both rows."""
    con.execute("UPDATE slack_digests SET status = ?, error = ?, updated_at = now() "
                "WHERE digest_key = ?", [status, error, key])
    outbox.settle(con, key, status=status, error=error)


__all__ = ["DigestRow", "load_row", "record_channel", "record_intent", "record_message",
           "record_outcome"]
