"""The outbox: every delivery is recorded (keyed, so reruns update) and written as readable files."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from pathlib import Path

import duckdb

from ..config import DeliverConfig
from .jira_payload import jira_issue_fields
from .slack_digest import announce_shipped, build_digest, digest_preview


def _hash(payload: dict) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:32]


def record_delivery(
    con: duckdb.DuckDBPyConnection, *, key: str, sink: str, theme_id: int | None, run_id: str,
    payload: dict, status: str,
) -> str:
    """Upsert a delivery by key; return 'created', 'updated' or 'unchanged'."""
    digest = _hash(payload)
    row = con.execute("SELECT payload_hash FROM deliveries WHERE delivery_key = ?", [key]).fetchone()
    if row and row[0] == digest:
        return "unchanged"
    con.execute(
        """
        INSERT INTO deliveries (delivery_key, sink, theme_id, run_id, payload, payload_hash, status)
        VALUES (?, ?, ?, ?, ?, ?, ?)
        ON CONFLICT (delivery_key) DO UPDATE SET run_id = excluded.run_id, payload = excluded.payload,
            payload_hash = excluded.payload_hash, status = excluded.status,
            updated_at = now()
        """,
        [key, sink, theme_id, run_id, json.dumps(payload, default=str), digest, status],
    )
    return "updated" if row else "created"


def _write(path: Path, payload: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(payload, indent=2, ensure_ascii=False, default=str), encoding="utf-8")
    tmp.replace(path)  # atomic: a crash never leaves half a file


def deliver_dry_run(
    con: duckdb.DuckDBPyConnection, ranking: list[dict], config: DeliverConfig, *,
    run_id: str, as_of: datetime, totals: dict,
) -> dict:
    """Record the Jira issues and the Slack digest this run would send, and write them to files."""
    counts = {"created": 0, "updated": 0, "unchanged": 0}
    outbox = config.outbox
    for theme in ranking[: config.jira.top_n]:
        request = {"fields": jira_issue_fields(theme, config.jira)}
        counts[record_delivery(con, key=f"jira:theme:{theme['theme_id']}", sink="jira",
                               theme_id=theme["theme_id"], run_id=run_id, payload=request,
                               status="dry_run")] += 1
        _write(outbox / "jira" / f"theme-{theme['theme_id']}.json", request)
        (outbox / "jira" / f"theme-{theme['theme_id']}.txt").write_text(
            f"{request['fields']['summary']}\n\n{request['fields']['description']}\n", encoding="utf-8")
    digest = build_digest(con, ranking, as_of=as_of, run_id=run_id, totals=totals,
                          config=config.slack, jira_server=config.jira.server)
    key = digest["key"]
    counts[record_delivery(con, key=key, sink="slack", theme_id=None, run_id=run_id,
                           payload=digest, status="dry_run")] += 1
    announce_shipped(con, key, digest["shipped_theme_ids"])
    _write(outbox / "slack" / f"digest-{as_of:%Y-%m-%d}.json", digest)
    (outbox / "slack" / f"digest-{as_of:%Y-%m-%d}.txt").write_text(digest_preview(digest),
                                                                   encoding="utf-8")
    return {"jira_issues": min(len(ranking), config.jira.top_n), "slack_digests": 1, **counts,
            "outbox": str(outbox)}


__all__ = ["deliver_dry_run", "record_delivery"]
