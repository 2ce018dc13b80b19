"""Ingest stage: pull batches from every source and upsert them into ``items``.

Each batch (its rows, its rejections and its cursor) is committed in one transaction, so a crash
loses at most the uncommitted batch, which the rerun fetches again from the stored cursor.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field

import duckdb
import pyarrow as pa

from feedback_pipeline.authors import DEFAULT_SALT, BotNames, pseudonymise
from feedback_pipeline.crashpoints import crashpoint
from feedback_pipeline.errors import FeedbackPipelineError
from feedback_pipeline.fingerprint import fingerprint
from feedback_pipeline.ingest.source import Batch, Source
from feedback_pipeline.records import Item
from feedback_pipeline.warehouse.db import transaction

log = logging.getLogger(__name__)


@dataclass
class SourceStats:
    fetched: int = 0
    new: int = 0
    changed: int = 0
    unchanged: int = 0
    rejected: int = 0
    error: str | None = None
    warnings: list[str] = field(default_factory=list)


@dataclass
class IngestStats:
    sources: dict[str, SourceStats] = field(default_factory=dict)

    def total(self, name: str) -> int:
        return sum(getattr(s, name) for s in self.sources.values())

    def as_dict(self) -> dict:
        return {
            "fetched": self.total("fetched"),
            "new": self.total("new"),
            "changed": self.total("changed"),
            "rejected": self.total("rejected"),
            "failed_sources": [n for n, s in self.sources.items() if s.error],
            "warnings": [f"{n}: {w}" for n, s in self.sources.items() for w in s.warnings],
            "by_source": {n: asdict(s) for n, s in self.sources.items()},
        }


_ITEM_SCHEMA = pa.schema(
    [
        ("source", pa.string()),
        ("external_id", pa.string()),
        ("kind", pa.string()),
        ("url", pa.string()),
        ("author_hash", pa.string()),
        ("author_is_bot", pa.bool_()),
        ("title", pa.string()),
        ("body", pa.string()),
        ("tags", pa.list_(pa.string())),
        ("votes", pa.int64()),
        ("customer", pa.string()),
        ("plan", pa.string()),
        ("created_at", pa.timestamp("us", tz="UTC")),
        ("updated_at", pa.timestamp("us", tz="UTC")),
        ("deleted", pa.bool_()),
        ("content_hash", pa.string()),
    ]
)


def _latest_per_key(items: list[Item]) -> list[Item]:
    # A source may repeat a record within one fetch (Zendesk does, once per change): keep the newest.
    latest: dict[tuple[str, str], Item] = {}
    for it in items:
        key = (it.source, it.external_id)
        if key not in latest or it.updated_at >= latest[key].updated_at:
            latest[key] = it
    return list(latest.values())


def _items_table(items: list[Item], salt: str, bots: BotNames) -> pa.Table:
    cols: dict[str, list] = {name: [] for name in _ITEM_SCHEMA.names}
    for it in items:
        cols["source"].append(it.source)
        cols["external_id"].append(it.external_id)
        cols["kind"].append(it.kind)
        cols["url"].append(it.url)
        cols["author_hash"].append(pseudonymise(it.source, it.author, salt))
        cols["author_is_bot"].append(it.is_bot or bots.match(it.author))
        cols["title"].append(it.title)
        cols["body"].append(it.body)
        cols["tags"].append(list(it.tags))
        cols["votes"].append(it.votes)
        cols["customer"].append(it.customer)
        cols["plan"].append(it.plan)
        cols["created_at"].append(it.created_at)
        cols["updated_at"].append(it.updated_at)
        cols["deleted"].append(it.deleted)
        cols["content_hash"].append(it.content_hash)
    return pa.table(cols, schema=_ITEM_SCHEMA)


_UPSERT = """
INSERT INTO items (source, external_id, kind, url, author_hash, author_is_bot, title, body, tags,
                   votes, customer, plan, created_at, updated_at, deleted, content_hash,
                   first_seen_run, last_changed_run)
SELECT s.*, $run_id, $run_id FROM staged_items s
ON CONFLICT (source, external_id) DO UPDATE SET
    kind = excluded.kind, url = excluded.url, author_hash = excluded.author_hash,
    author_is_bot = excluded.author_is_bot, title = excluded.title, body = excluded.body,
    tags = excluded.tags, votes = excluded.votes, customer = excluded.customer,
    plan = excluded.plan, created_at = excluded.created_at, updated_at = excluded.updated_at,
    deleted = excluded.deleted, content_hash = excluded.content_hash,
    last_changed_run = CASE WHEN items.content_hash <> excluded.content_hash
                            THEN excluded.last_changed_run ELSE items.last_changed_run END
"""


def save_batch(
    con: duckdb.DuckDBPyConnection,
    source_name: str,
    batch: Batch,
    *,
    run_id: str,
    salt: str,
    bots: BotNames | None = None,
) -> SourceStats:
    """Commit one batch: upsert its items, keep its rejections, advance the cursor."""
    stats = SourceStats(fetched=len(batch.items) + len(batch.rejections))
    items = _latest_per_key(batch.items)
    with transaction(con):
        if items:
            staged = _items_table(items, salt, bots or BotNames())  # noqa: F841 - read by DuckDB by name
            con.execute("CREATE OR REPLACE TEMP TABLE staged_items AS SELECT * FROM staged")
            new, changed, same = con.execute(
                """
                SELECT count(*) FILTER (WHERE i.source IS NULL),
                       count(*) FILTER (WHERE i.content_hash <> s.content_hash),
                       count(*) FILTER (WHERE i.content_hash = s.content_hash)
                FROM staged_items s LEFT JOIN items i USING (source, external_id)
                """
            ).fetchone()
            stats.new, stats.changed, stats.unchanged = new, changed, same
            con.execute(_UPSERT, {"run_id": run_id})
            con.execute("DROP TABLE staged_items")
        for rej in batch.rejections:
            con.execute(
                """
                INSERT INTO rejected_items (source, raw_hash, position, external_id, reason, raw, run_id)
                VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING
                """,
                [
                    rej.source,
                    fingerprint(rej.raw, errors="replace"),
                    rej.position,
                    rej.external_id,
                    rej.reason,
                    rej.raw[:2000],
                    run_id,
                ],
            )
        stats.rejected = len(batch.rejections)
        if batch.cursor is not None:
            con.execute(
                """
                INSERT INTO source_cursors VALUES (?, ?, now())
                ON CONFLICT (source) DO UPDATE SET cursor = excluded.cursor,
                                                   updated_at = now()
                """,
                [source_name, batch.cursor],
            )
    return stats


def get_cursor(con: duckdb.DuckDBPyConnection, source_name: str) -> str | None:
    row = con.execute("SELECT cursor FROM source_cursors WHERE source = ?", [source_name]).fetchone()
    return row[0] if row else None


def ingest(
    con: duckdb.DuckDBPyConnection,
    sources: list[Source],
    *,
    run_id: str,
    salt: str = DEFAULT_SALT,
    bots: BotNames | None = None,
) -> IngestStats:
    """Fetch every source from its stored cursor and upsert what it yields.

    A failing source is recorded in the stats with its error and the other sources still run;
    its cursor stays where its last committed batch left it.
    """
    bots = bots or BotNames()
    result = IngestStats()
    for source in sources:
        total = result.sources[source.name] = SourceStats()
        try:
            for batch in source.fetch(get_cursor(con, source.name)):
                crashpoint("ingest.batch.fetched")
                s = save_batch(con, source.name, batch, run_id=run_id, salt=salt, bots=bots)
                crashpoint("ingest.batch.committed")
                for name in ("fetched", "new", "changed", "unchanged", "rejected"):
                    setattr(total, name, getattr(total, name) + getattr(s, name))
                for warning in batch.warnings:
                    log.warning("source %s: %s", source.name, warning)
                total.warnings.extend(batch.warnings)
        except FeedbackPipelineError as exc:
            total.error = str(exc)
            log.error("source %s failed: %s", source.name, exc)
    return result


def rejected_summary(con: duckdb.DuckDBPyConnection) -> list[dict]:
    rows = con.execute(
        "SELECT source, position, reason FROM rejected_items ORDER BY rejected_at, source, position"
    ).fetchall()
    return [dict(zip(("source", "position", "reason"), r, strict=True)) for r in rows]


__all__ = ["IngestStats", "SourceStats", "get_cursor", "ingest", "rejected_summary", "save_batch"]
