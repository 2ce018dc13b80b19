"""The input record schema shared by every source, and its validation.

A record is one community post or support ticket::

    source        str   where it came from (a configured source name)     required
    kind          str   community_post | support_ticket                    required
    external_id   str   the id in the source system (a string or an integer) required
    url           str   link back to the thread/ticket
    author        str   author handle or id (pseudonymised before storage)
    title         str   subject / topic title
    body          str   the text (HTML or markdown allowed)               required*
    created_at    str   ISO 8601 timestamp                                 required
    updated_at    str   ISO 8601 timestamp (defaults to created_at)
    tags          list[str] or "a,b" string
    votes         int   likes / upvotes / +1 reactions (an integer: 1.9 and true are rejected)
    customer      str   account or organisation
    plan          str   customer plan/tier
    deleted       bool  the source deleted it (kept, marked)
    is_bot        bool  the source says a bot wrote it
    thread_id     str   the conversation it belongs to (a topic, a Slack thread, a ticket)
    reply_to      str   set on a reply: what it answers (unset on a thread's first post)
    author_role   str   customer | staff | bot, from the source's staff flags (unset: unknown)
    replies       list  replies folded into this record's body (a ticket's comments):
                        [{id, author, role, created_at}], for the community pulse

    * title or body must be non-empty.

Validation is strict, never a coercion: a value of the wrong type, a text with a lone surrogate
(in any field), NUL bytes, control characters in an id/URL/name field, or a date that does not
parse rejects the record with a bounded reason naming the field. Size limits and the accepted
date window depend on the run's settings and clock; :class:`RecordRules` checks them.

A body made of several messages (a ticket's description and its replies) joins them with
``PART_SEPARATOR``, so the cleaner can cut quoted text and signatures out of each part.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from feedback_pipeline.errors import RecordError
from feedback_pipeline.fingerprint import fingerprint

KINDS = ("community_post", "support_ticket")
ROLES = ("customer", "staff", "bot")
PART_SEPARATOR = "\n\n----- reply -----\n\n"
REQUIRED = ("source", "kind", "external_id", "created_at")


@dataclass(frozen=True, slots=True)
class Reply:
    """A reply folded into its thread's record (not an item of its own: never clustered)."""

    reply_id: str
    created_at: datetime
    author: str | None = None
    role: str = "customer"


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
    thread_id: str | None = None
    reply_to: str | None = None
    author_role: str | None = None
    # None: the source does not fold replies into the record; () a thread with none yet.
    replies: tuple[Reply, ...] | None = field(default=None, compare=False)
    # Where the record came from (file:line, page/offset): named when it is superseded or
    # rejected by a later check. Not part of the record's identity.
    position: str = field(default="", compare=False)

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
MAX_REASON_CHARS = 500
MAX_RAW_CHARS = 2_000
# C0/C1 control characters: fine in a body (the cleaner removes them), never in an id, a URL or
# a name, where they hide text in terminals or break links.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_INTEGER = re.compile(r"[+-]?\d+(\.0*)?")


def show(value: object, width: int = 60) -> str:
    """``repr(value)`` cut to ``width`` characters: reasons quote values but stay bounded."""
    text = repr(value)
    return text if len(text) <= width else text[: width - 1] + "…"


def bounded(text: str, limit: int) -> str:
    """At most ``limit`` characters, valid UTF-8 (lone surrogates escaped), for storage."""
    text = text[:limit]
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def bound_reason(reason: str) -> str:
    return bounded(reason, MAX_REASON_CHARS)


def guard_reason(exc: Exception) -> str:
    """Why a record was rejected, from whatever its guard caught (a record's guard catches every
    ``Exception``: one odd record must never end its file, page or source)."""
    if isinstance(exc, RecordError):
        return exc.reason
    if isinstance(exc, RecursionError):
        return "the record is nested too deeply to read"
    return f"unreadable record ({type(exc).__name__}: {str(exc)[:200]})"


def parse_timestamp(value: object, name: str) -> datetime:
    if isinstance(value, datetime):
        dt = value
    elif isinstance(value, int | float) and not isinstance(value, bool):
        try:
            dt = datetime.fromtimestamp(float(value), tz=UTC)
        except (OverflowError, OSError, ValueError) as exc:  # NaN, inf, beyond year 9999
            hint = " (milliseconds? epoch timestamps are in seconds)" \
                if abs(value) > 1e11 and abs(value) < 1e14 else ""
            raise RecordError(f"field '{name}' is not a usable epoch timestamp: {show(value)}"
                              f"{hint}") from exc
    elif isinstance(value, str) and value.strip():
        text = value.strip().replace("Z", "+00:00")
        try:
            dt = datetime.fromisoformat(text)
        except ValueError as exc:
            raise RecordError(f"field '{name}' is not an ISO 8601 timestamp: {show(value)}") \
                from exc
    else:
        raise RecordError(f"field '{name}' is missing or empty")
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    try:
        return dt.astimezone(UTC)
    except (OverflowError, ValueError) as exc:  # 0001-01-01T00:00+01:00 is before year 1 in UTC
        raise RecordError(f"field '{name}' is out of range once converted to UTC: "
                          f"{show(value)}") from exc


def _valid_unicode(text: str, name: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise RecordError(
            f"field '{name}' contains an unpaired surrogate at position {exc.start} "
            "(invalid Unicode, often a split emoji)"
        ) from exc


def _text(value: object, name: str, *, ids: bool = False) -> str:
    """A text field: a string (or, for id-like fields, an integer), valid Unicode.

    ``ids``: an id, URL or name, where control characters (NUL included) are rejected too.
    """
    if value is None:
        return ""
    if ids and isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str):
        allowed = "text or an integer" if ids else "text"
        raise RecordError(f"field '{name}' must be {allowed}, got {type(value).__name__}")
    _valid_unicode(value, name)
    if "\x00" in value:
        raise RecordError(f"field '{name}' contains NUL bytes (binary data?)")
    if ids and (found := _CONTROL.search(value)):
        raise RecordError(f"field '{name}' contains the control character "
                          f"U+{ord(found.group()):04X} at position {found.start()}")
    return value


def _tags(value: object) -> tuple[str, ...]:
    if value is None or value == "":
        return ()
    if isinstance(value, str):
        return tuple(t.strip() for t in _text(value, "tags", ids=True).split(",") if t.strip())
    if isinstance(value, list | tuple):
        tags = []
        for tag in value:
            if isinstance(tag, bool) or not isinstance(tag, str | int):
                raise RecordError(f"field 'tags' must hold text, got {type(tag).__name__}")
            if text := _text(tag, "tags", ids=True).strip():
                tags.append(text)
        return tuple(tags)
    raise RecordError(f"field 'tags' must be a list or a comma-separated string, got {show(value)}")


def _int(value: object, name: str) -> int:
    """An integer, or a float/text that is exactly one (3, 3.0, "3"); never 1.9 or true."""
    if value is None or value == "":
        return 0
    number: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    elif isinstance(value, str) and _INTEGER.fullmatch(value.strip()):
        number = int(value.strip().split(".")[0])
    if number is None:
        raise RecordError(f"field '{name}' must be an integer, got {show(value)}")
    if not INT32_MIN <= number <= INT32_MAX:  # the warehouse column is a 32-bit INTEGER
        raise RecordError(f"field '{name}' is out of range (beyond ±2^31): {show(value)}")
    return number


_TRUE, _FALSE = ("1", "true", "yes", "y", "t"), ("0", "false", "no", "n", "f", "")


def _bool(value: object, name: str) -> bool:
    if value is None or isinstance(value, bool):
        return bool(value)
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE + _FALSE:
        return value.strip().lower() in _TRUE
    raise RecordError(f"field '{name}' must be true or false, got {show(value)}")


def _role(value: object, name: str) -> str | None:
    role = _text(value, name, ids=True).strip().lower() or None
    if role is not None and role not in ROLES:
        raise RecordError(f"field '{name}' must be one of {ROLES}, got {show(role)}")
    return role


def _replies(value: object) -> tuple[Reply, ...] | None:
    if value is None:
        return None
    if not isinstance(value, list | tuple):
        raise RecordError(f"field 'replies' must be a list, got {type(value).__name__}")
    replies = []
    for n, reply in enumerate(value):
        where = f"replies[{n}]"
        if not isinstance(reply, dict):
            raise RecordError(f"field '{where}' must be an object, got {type(reply).__name__}")
        reply_id = _text(reply.get("id"), f"{where}.id", ids=True).strip()
        if not reply_id:
            raise RecordError(f"field '{where}.id' is missing or empty")
        replies.append(Reply(
            reply_id=reply_id,
            created_at=parse_timestamp(reply.get("created_at"), f"{where}.created_at"),
            author=_text(reply.get("author"), f"{where}.author", ids=True) or None,
            role=_role(reply.get("role"), f"{where}.role") or "customer",
        ))
    return tuple(replies)


def item_from_mapping(raw: dict, *, max_body_chars: int, position: str = "") -> Item:
    """Validate one raw record (already decoded from JSON/CSV) into an :class:`Item`.

    Raises:
        RecordError: naming the offending field.
    """
    if not isinstance(raw, dict):
        raise RecordError(f"record must be an object, got {type(raw).__name__}")
    missing = [k for k in REQUIRED if raw.get(k) in (None, "")]
    if missing:
        raise RecordError(f"missing required field(s): {', '.join(missing)}")
    kind = _text(raw["kind"], "kind", ids=True).strip()
    if kind not in KINDS:
        raise RecordError(f"field 'kind' must be one of {KINDS}, got {show(kind)}")
    external_id = _text(raw["external_id"], "external_id", ids=True).strip()
    if not external_id:
        raise RecordError("missing required field(s): external_id")
    title = _text(raw.get("title"), "title")
    body = _text(raw.get("body"), "body")
    if not title.strip() and not body.strip():
        raise RecordError("both 'title' and 'body' are empty")
    if len(body) > max_body_chars:
        raise RecordError(
            f"body is {len(body):,} characters, over the limit of {max_body_chars:,} "
            "(ingest.max_body_chars)"
        )
    created = parse_timestamp(raw.get("created_at"), "created_at")
    updated_raw = raw.get("updated_at")
    updated = (parse_timestamp(updated_raw, "updated_at") if updated_raw not in (None, "")
               else created)
    return Item(
        source=_text(raw["source"], "source", ids=True).strip(),
        kind=kind,
        external_id=external_id,
        created_at=created,
        updated_at=max(updated, created),
        title=title.strip(),
        body=body.strip(),
        url=_text(raw.get("url"), "url", ids=True) or None,
        author=_text(raw.get("author"), "author", ids=True) or None,
        tags=_tags(raw.get("tags")),
        votes=_int(raw.get("votes", raw.get("likes")), "votes"),
        customer=_text(raw.get("customer"), "customer", ids=True) or None,
        plan=_text(raw.get("plan"), "plan", ids=True) or None,
        deleted=_bool(raw.get("deleted", False), "deleted"),
        is_bot=_bool(raw.get("is_bot", False), "is_bot"),
        thread_id=_text(raw.get("thread_id"), "thread_id", ids=True).strip() or None,
        reply_to=_text(raw.get("reply_to"), "reply_to", ids=True).strip() or None,
        author_role=_role(raw.get("author_role"), "author_role"),
        replies=_replies(raw.get("replies")),
        position=position,
    )


@dataclass(frozen=True)
class RecordRules:
    """The checks that depend on the settings (``[ingest]``) and on the run's clock.

    Applied by the ingest stage to every item of every source, after :func:`item_from_mapping`:
    a record dated before ``oldest`` (a "1970-01-01" placeholder) or more than
    ``future_tolerance`` after the run started (a "9999-12-31" never-date) is rejected, so it can
    move neither the ranking's ``as_of`` nor a theme's ``last_seen`` nor the digest date.
    """

    now: datetime
    oldest: datetime = datetime(2000, 1, 1, tzinfo=UTC)
    future_tolerance: timedelta = timedelta(days=1)
    max_title_chars: int = 1_000
    max_field_chars: int = 2_000
    max_tags: int = 100
    # Every configured source name: a record fetched by one source whose own `source` field
    # names another could overwrite that source's records, so it is rejected.
    sources: frozenset[str] = frozenset()

    @property
    def latest(self) -> datetime:
        try:
            return self.now + self.future_tolerance
        except OverflowError:  # a clock near year 9999
            return datetime.max.replace(tzinfo=UTC)

    def check(self, item: Item, fetched_by: str | None = None) -> str | None:
        """Why ``item`` (fetched by the source named ``fetched_by``) breaks a rule, or None."""
        if fetched_by and item.source != fetched_by and item.source in self.sources:
            return (f"field 'source' is {show(item.source)}, another configured source: a record "
                    f"read by source {show(fetched_by)} may not overwrite that source's records "
                    "(leave `source` empty, or name this source)")
        for name in ("created_at", "updated_at"):
            when: datetime = getattr(item, name)
            if when < self.oldest:
                return (f"field '{name}' is {when:%Y-%m-%d}, before the oldest accepted date "
                        f"{self.oldest:%Y-%m-%d} (ingest.oldest_date): a placeholder date?")
            if when > self.latest:
                return (f"field '{name}' is {when.isoformat()}, in the future of this run "
                        f"(started {self.now:%Y-%m-%d %H:%M} UTC, tolerance "
                        f"{self.future_tolerance.total_seconds() / 3600:g} h, "
                        "ingest.future_tolerance_hours)")
        if len(item.title) > self.max_title_chars:
            return (f"title is {len(item.title):,} characters, over the limit of "
                    f"{self.max_title_chars:,} (ingest.max_title_chars)")
        for name in ("external_id", "url", "author", "customer", "plan", "thread_id",
                     "reply_to"):
            value = getattr(item, name) or ""
            if len(value) > self.max_field_chars:
                return (f"field '{name}' is {len(value):,} characters, over the limit of "
                        f"{self.max_field_chars:,} (ingest.max_field_chars)")
        if len(item.tags) > self.max_tags:
            return f"{len(item.tags):,} tags, over the limit of {self.max_tags:,} (ingest.max_tags)"
        if any(len(t) > self.max_field_chars for t in item.tags):
            return f"a tag is over the limit of {self.max_field_chars:,} characters " \
                   "(ingest.max_field_chars)"
        return None


__all__ = ["KINDS", "MAX_RAW_CHARS", "MAX_REASON_CHARS", "PART_SEPARATOR", "ROLES", "Item",
           "RecordRules", "Rejection", "Reply", "bound_reason", "bounded", "guard_reason", "item_from_mapping",
           "parse_timestamp", "show"]
