"""The input record schema shared by every source, and its validation.

A record is one community post or support ticket::

    source        str   where it came from (a configured source name)     required
    kind          str   community_post | support_ticket                    required
    external_id   str   the id in the source system                        required
    url           str   link back to the thread/ticket
    author        str   author handle or id (pseudonymised before storage)
    title         str   subject / topic title
    body          str   the text (HTML or markdown allowed)               required*
    created_at    str   ISO 8601 timestamp                                 required
    updated_at    str   ISO 8601 timestamp (defaults to created_at)
    tags          list[str] or "a,b" string
    votes         int   likes / upvotes / +1 reactions
    customer      str   account or organisation
    plan          str   customer plan/tier
    deleted       bool  the source deleted it (kept, marked)
    is_bot        bool  the source says a bot wrote it

    * title or body must be non-empty.

A body made of several messages (a ticket's description and its replies) joins them with
``PART_SEPARATOR``, so the cleaner can cut quoted text and signatures out of each part.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime

from feedback_pipeline.errors import RecordError
from feedback_pipeline.fingerprint import fingerprint

KINDS = ("community_post", "support_ticket")
PART_SEPARATOR = "\n\n----- reply -----\n\n"
REQUIRED = ("source", "kind", "external_id", "created_at")


@dataclass(frozen=True, slots=True)
class Item:
    source: str
    kind: str
    external_id: str
    created_at: datetime
    updated_at: datetime
    title: str = ""
    body: str = ""
    url: str | None = None
    author: str | None = None
    tags: tuple[str, ...] = field(default_factory=tuple)
    votes: int = 0
    customer: str | None = None
    plan: str | None = None
    deleted: bool = False
    is_bot: bool = False

    @property
    def content_hash(self) -> str:
        """Hash of what a reader sees; an edit changes it, a re-fetch of the same text does not."""
        payload = json.dumps([self.title, self.body, self.deleted], ensure_ascii=False)
        return fingerprint(payload)


@dataclass(frozen=True, slots=True)
class Rejection:
    """A record that could not be ingested, kept with its reason."""

    source: str
    position: str
    reason: str
    raw: str
    external_id: str | None = None


INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1


def parse_timestamp(value: object, name: str) -> datetime:
    if isinstance(value, datetime):
        dt = value
    elif isinstance(value, int | float) and not isinstance(value, bool):
        try:
            dt = datetime.fromtimestamp(float(value), tz=UTC)
        except (OverflowError, OSError, ValueError) as exc:  # NaN, inf, beyond year 9999
            raise RecordError(f"field '{name}' is not a usable epoch timestamp: {value!r}") from exc
    elif isinstance(value, str) and value.strip():
        text = value.strip().replace("Z", "+00:00")
        try:
            dt = datetime.fromisoformat(text)
        except ValueError as exc:
            raise RecordError(f"field '{name}' is not an ISO 8601 timestamp: {value!r}") from exc
    else:
        raise RecordError(f"field '{name}' is missing or empty")
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    try:
        return dt.astimezone(UTC)
    except (OverflowError, ValueError) as exc:  # 0001-01-01T00:00+01:00 is before year 1 in UTC
        raise RecordError(f"field '{name}' is out of range once converted to UTC: {value!r}") \
            from exc


def _text(value: object, name: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str | int | float):
        raise RecordError(f"field '{name}' must be text, got {type(value).__name__}")
    return str(value)


def _tags(value: object) -> tuple[str, ...]:
    if value is None or value == "":
        return ()
    if isinstance(value, str):
        return tuple(t.strip() for t in value.split(",") if t.strip())
    if isinstance(value, list | tuple):
        return tuple(str(t).strip() for t in value if str(t).strip())
    raise RecordError(f"field 'tags' must be a list or a comma-separated string, got {value!r}")


def _int(value: object, name: str) -> int:
    if value is None or value == "":
        return 0
    try:
        number = int(float(value))  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError) as exc:
        raise RecordError(f"field '{name}' must be a number, got {value!r}") from exc
    if not INT32_MIN <= number <= INT32_MAX:  # the warehouse column is a 32-bit INTEGER
        raise RecordError(f"field '{name}' is out of range (beyond ±2^31): {value!r}")
    return number


def _bool(value: object) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes")
    return bool(value)


def item_from_mapping(raw: dict, *, max_body_chars: int) -> Item:
    """Validate one raw record (already decoded from JSON/CSV) into an :class:`Item`.

    Raises:
        RecordError: naming the offending field.
    """
    if not isinstance(raw, dict):
        raise RecordError(f"record must be an object, got {type(raw).__name__}")
    missing = [k for k in REQUIRED if raw.get(k) in (None, "")]
    if missing:
        raise RecordError(f"missing required field(s): {', '.join(missing)}")
    kind = str(raw["kind"]).strip()
    if kind not in KINDS:
        raise RecordError(f"field 'kind' must be one of {KINDS}, got {kind!r}")
    title = _text(raw.get("title"), "title")
    body = _text(raw.get("body"), "body")
    if not title.strip() and not body.strip():
        raise RecordError("both 'title' and 'body' are empty")
    if len(body) > max_body_chars:
        raise RecordError(
            f"body is {len(body):,} characters, over the limit of {max_body_chars:,} "
            "(ingest.max_body_chars)"
        )
    for name, text in (("title", title), ("body", body)):
        if "\x00" in text:
            raise RecordError(f"field '{name}' contains NUL bytes (binary data?)")
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise RecordError(
                f"field '{name}' contains an unpaired surrogate at position {exc.start} "
                "(invalid Unicode, often a split emoji)"
            ) from exc
    created = parse_timestamp(raw.get("created_at"), "created_at")
    updated_raw = raw.get("updated_at")
    updated = parse_timestamp(updated_raw, "updated_at") if updated_raw not in (None, "") else created
    return Item(
        source=str(raw["source"]).strip(),
        kind=kind,
        external_id=str(raw["external_id"]).strip(),
        created_at=created,
        updated_at=max(updated, created),
        title=title.strip(),
        body=body.strip(),
        url=_text(raw.get("url"), "url") or None,
        author=_text(raw.get("author"), "author") or None,
        tags=_tags(raw.get("tags")),
        votes=_int(raw.get("votes", raw.get("likes")), "votes"),
        customer=_text(raw.get("customer"), "customer") or None,
        plan=_text(raw.get("plan"), "plan") or None,
        deleted=_bool(raw.get("deleted", False)),
        is_bot=_bool(raw.get("is_bot", False)),
    )


__all__ = ["KINDS", "PART_SEPARATOR", "Item", "Rejection", "item_from_mapping", "parse_timestamp"]
