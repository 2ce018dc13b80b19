"""Ingest stage: pull batches from every source and upsert them into ``items``.

Each batch (its rows, its rejections and its cursor) is committed in one transaction, so a crash
loses at most the uncommitted batch, which the rerun fetches again from the stored cursor.

Rules every source obeys here, whatever its type:

- every item is checked against the run's :class:`RecordRules` (date window, sizes); a failing
  one becomes a rejection with its position;
- an item whose own ``source`` names another configured source is rejected: no source can
  overwrite another's records (a label no source is configured with is kept: a mixed export);
- several versions of one ``external_id`` in one fetch: the newest ``updated_at`` wins (on a tie,
  the later one), the others are counted as ``superseded``;
- the totals reconcile: ``fetched = stored + rejected + superseded``.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime

import duckdb
import pyarrow as pa

from feedback_pipeline.authors import DEFAULT_SALT, BotNames, pseudonymise
from feedback_pipeline.crashpoints import crashpoint
from feedback_pipeline.errors import FeedbackPipelineError
from feedback_pipeline.fingerprint import fingerprint
from feedback_pipeline.ingest.source import Batch, Source
from feedback_pipeline.records import (
    MAX_RAW_CHARS,
    Item,
    RecordRules,
    Rejection,
    bound_reason,
    bounded,
)
from feedback_pipeline.warehouse.db import transaction

log = logging.getLogger(__name__)


@dataclass
class SourceStats:
    fetched: int = 0
    new: int = 0
    changed: int = 0
    unchanged: int = 0
    rejected: int = 0
    superseded: int = 0
    error: str | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def stored(self) -> int:
        return self.new + self.changed + self.unchanged


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
            "unchanged": self.total("unchanged"),
            "stored": self.total("stored"),
            "rejected": self.total("rejected"),
            "superseded": self.total("superseded"),
            "failed_sources": [n for n, s in self.sources.items() if s.error],
            "errors": {n: s.error for n, s in self.sources.items() if s.error},
            "warnings": [f"{n}: {w}" for n, s in self.sources.items() for w in s.warnings],
            "by_source": {n: {**asdict(s), "stored": s.stored} for n, s in self.sources.items()},
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
        ("thread_id", pa.string()),
        ("reply_to", pa.string()),
        ("author_role", pa.string()),
    ]
)


def author_role(item: Item, bots: BotNames) -> str | None:
    """The stored role: a bot is a bot whatever the source's flags say; else the source's word."""
    if item.is_bot or item.author_role == "bot" or bots.match(item.author):
        return "bot"
    return item.author_role


def save_replies(con: duckdb.DuckDBPyConnection, items: list[Item], salt: str) -> None:
    """Replace the folded replies of every item that carries them (a re-fetched ticket brings
    all its replies again, so an edited or removed one does not linger)."""
    threads = [it for it in items if it.replies is not None]
    if not threads:
        return
    con.executemany("DELETE FROM thread_replies WHERE source = ? AND thread_id = ?",
                    [[it.source, it.external_id] for it in threads])
    rows = [[it.source, r.reply_id, it.external_id, pseudonymise(it.source, r.author, salt),
             r.role, r.created_at] for it in threads for r in it.replies or ()]
    if rows:
        con.executemany("INSERT INTO thread_replies VALUES (?, ?, ?, ?, ?, ?) "
                        "ON CONFLICT (source, thread_id, reply_id) DO UPDATE SET "
                        "author_hash = excluded.author_hash, author_role = excluded.author_role, "
                        "created_at = excluded.created_at", rows)


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
        cols["thread_id"].append(it.thread_id)
        cols["reply_to"].append(it.reply_to)
        cols["author_role"].append(author_role(it, bots))
    return pa.table(cols, schema=_ITEM_SCHEMA)


_UPSERT = """
INSERT INTO items (source, external_id, kind, url, author_hash, author_is_bot, title, body, tags,
                   votes, customer, plan, created_at, updated_at, deleted, content_hash,
                   thread_id, reply_to, author_role, first_seen_run, last_changed_run)
SELECT s.*, $run_id, $run_id FROM staged_items s
ON CONFLICT (source, external_id) DO UPDATE SET
    kind = excluded.kind, url = excluded.url, author_hash = excluded.author_hash,
    author_is_bot = excluded.author_is_bot, title = excluded.title, body = excluded.body,
    tags = excluded.tags, votes = excluded.votes, customer = excluded.customer,
    plan = excluded.plan, created_at = excluded.created_at, updated_at = excluded.updated_at,
    deleted = excluded.deleted, content_hash = excluded.content_hash,
    thread_id = excluded.thread_id, reply_to = excluded.reply_to,
    author_role = excluded.author_role,
    last_changed_run = CASE WHEN items.content_hash <> excluded.content_hash
                            THEN excluded.last_changed_run ELSE items.last_changed_run END
"""


def save_rejections(con: duckdb.DuckDBPyConnection, source_name: str,
                    rejections: list[Rejection], *, run_id: str) -> None:
    """Keep rejected records with their reason, keyed by content (a rerun adds none twice);
    inside the caller's transaction."""
    for rej in rejections:
        con.execute(
            """
            INSERT INTO rejected_items (source, raw_hash, position, external_id, reason, raw, run_id)
            VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING
            """,
            [
                rej.source or source_name,
                fingerprint(rej.raw, errors="replace"),
                bounded(rej.position, 200),
                bounded(rej.external_id, 200) if rej.external_id is not None else None,
                bound_reason(rej.reason),
                bounded(rej.raw, MAX_RAW_CHARS),
                run_id,
            ],
        )


def save_batch(
    con: duckdb.DuckDBPyConnection,
    source_name: str,
    batch: Batch,
    *,
    run_id: str,
    salt: str,
    bots: BotNames | None = None,
    restored: frozenset[tuple[str, str]] | set[tuple[str, str]] = frozenset(),
) -> SourceStats:
    """Commit one batch: upsert its items, keep its rejections, advance the cursor.

    Args:
        restored: (source, external_id) this fetch already stored in an earlier batch; storing
            them again is counted by the caller as superseding, not as new/changed/unchanged.
    """
    stats = SourceStats(fetched=len(batch.items) + len(batch.rejections))
    items = _latest_per_key(batch.items)
    stats.superseded = len(batch.items) - len(items)
    with transaction(con):
        if items:
            staged = _items_table(items, salt, bots or BotNames())  # noqa: F841 - read by DuckDB by name
            con.execute("CREATE OR REPLACE TEMP TABLE staged_items AS SELECT * FROM staged")
            for key_source, external_id, status in con.execute(
                """
                SELECT s.source, s.external_id, CASE WHEN i.source IS NULL THEN 'new'
                       WHEN i.content_hash <> s.content_hash THEN 'changed' ELSE 'unchanged' END
                FROM staged_items s LEFT JOIN items i USING (source, external_id)
                """
            ).fetchall():
                if (key_source, external_id) not in restored:
                    setattr(stats, status, getattr(stats, status) + 1)
            con.execute(_UPSERT, {"run_id": run_id})
            con.execute("DROP TABLE staged_items")
            save_replies(con, items, salt)
        save_rejections(con, source_name, batch.rejections, run_id=run_id)
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
    rules: RecordRules | None = None,
) -> IngestStats:
    """Fetch every source from its stored cursor and upsert what it yields.

    A failing source (a missing file, rejected credentials, or any error the source did not
    expect) is recorded in the stats with its error and the other sources still run; its cursor
    stays where its last committed batch left it.

    Args:
        rules: the run's record checks (default: ``[ingest]`` defaults, clock now).
    """
    bots = bots or BotNames()
    rules = rules or RecordRules(now=datetime.now(UTC))
    if not rules.sources:
        rules = replace(rules, sources=frozenset(s.name for s in sources))
    result = IngestStats()
    for source in sources:
        total = result.sources[source.name] = SourceStats()
        stored: dict[tuple[str, str], datetime] = {}  # (source, id) -> updated_at stored
        try:
            for batch in source.fetch(get_cursor(con, source.name)):
                crashpoint("ingest.batch.fetched")
                batch, dropped, restored = _checked(batch, source.name, rules, stored)
                s = save_batch(con, source.name, batch, run_id=run_id, salt=salt, bots=bots,
                               restored=restored)
                crashpoint("ingest.batch.committed")
                # Older than a version already stored, or storing over one: superseded too.
                s.fetched += dropped
                s.superseded += dropped + len(restored)
                for name in ("fetched", "new", "changed", "unchanged", "rejected", "superseded"):
                    setattr(total, name, getattr(total, name) + getattr(s, name))
                for warning in batch.warnings:
                    log.warning("source %s: %s", source.name, warning)
                total.warnings.extend(batch.warnings)
        except FeedbackPipelineError as exc:
            total.error = str(exc)
            log.error("source %s failed: %s", source.name, exc)
        except Exception as exc:  # noqa: BLE001 - one source's bug must not hold back the others
            total.error = f"{type(exc).__name__}: {exc}"
            log.exception("source %s failed", source.name)
        if total.superseded:
            log.warning("source %s: %d record(s) superseded by a newer version of the same "
                        "external_id in the same fetch", source.name, total.superseded)
    return result


def _checked(batch: Batch, source_name: str, rules: RecordRules,
             stored: dict[tuple[str, str], datetime]
             ) -> tuple[Batch, int, set[tuple[str, str]]]:
    """The batch as it will be saved: every item checked against the rules (date window, sizes,
    the source key), and no older version of a record this fetch already stored.

    Returns the batch, how many items were dropped as older than a stored version, and the ids
    this batch stores again (their earlier version is superseded).
    """
    items: list[Item] = []
    rejections = list(batch.rejections)
    for item in batch.items:
        reason = rules.check(item, source_name)
        if reason is not None:
            rejections.append(Rejection(source=source_name, position=item.position or "?",
                                        reason=reason, raw=_item_raw(item),
                                        external_id=item.external_id))
            continue
        items.append(item)
    kept = {_key(it): it for it in _latest_per_key(items)}
    older = {k for k, it in kept.items() if k in stored and stored[k] > it.updated_at}
    restored = {k for k in kept if k in stored} - older
    checked_count = len(items)
    if older:
        items = [it for it in items if _key(it) not in older]
    stored.update({_key(it): it.updated_at for it in _latest_per_key(items)})
    checked = replace(batch, items=items, rejections=rejections)
    return checked, checked_count - len(items), restored


def _key(item: Item) -> tuple[str, str]:
    return item.source, item.external_id


def _item_raw(item: Item) -> str:
    """A rejected item's fields as JSON (what the source gave, decoded), for ``raw``."""
    fields = {name: getattr(item, name) for name in (
        "source", "kind", "external_id", "url", "author", "title", "body", "created_at",
        "updated_at", "tags", "votes", "customer", "plan", "deleted", "is_bot", "thread_id",
        "reply_to", "author_role")}
    return json.dumps(fields, ensure_ascii=False, default=str)


def rejected_summary(con: duckdb.DuckDBPyConnection) -> list[dict]:
    rows = con.execute(
        "SELECT source, position, reason FROM rejected_items ORDER BY rejected_at, source, position"
    ).fetchall()
    return [dict(zip(("source", "position", "reason"), r, strict=True)) for r in rows]


__all__ = ["IngestStats", "SourceStats", "get_cursor", "ingest", "rejected_summary", "save_batch",
           "save_rejections"]
