"""Community pulse: how the community is doing and whether the company answers (issue #18).

Computed in DuckDB from what the sources bring: every item (a thread's first post or, where the
source stores them as records, a reply: Discourse posts, Slack thread messages) and the replies
folded into a ticket (``thread_replies``: Zendesk comments, Intercom parts).

Definitions, per period (a UTC night or an ISO week):

- a *post* starts a thread; a *reply* answers one. Bots never count: not as posts, not as
  replies, not as participants, and a bot's reply does not answer a thread.
- *active participants*: distinct authors (pseudonyms) who posted or replied in the period;
  *new participants*: those among them whose first post or reply ever is in the period.
  Pseudonyms are per source, so one person on two sources counts twice.
- *customer threads*: threads started by a customer in the period, from sources that bring
  thread data (GitHub issues with their comments; not GitHub Discussions). *Answered*: a staff
  reply exists (by the time the pulse is computed). A customer replying to their own thread,
  or another customer answering, does not make it answered.
- *median hours to first staff reply*, over the period's answered customer threads.
- *unanswered*: customer threads with no staff reply, older than ``unanswered_hours`` and
  younger than ``unanswered_days``, oldest first, with their links.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Literal

import duckdb
from pydantic import Field

from feedback_pipeline.section import Section

Period = Literal["night", "week"]


class PulseConfig(Section):
    """The community pulse (``feedback-pipeline pulse``, the digest block, the report section)."""

    unanswered_hours: float = Field(
        48.0, gt=0, description="A customer thread without a staff reply this long is listed.")
    unanswered_days: float = Field(
        30.0, gt=0, description="Older unanswered threads are left out of the list.")
    max_unanswered: int = Field(10, ge=0, description="At most this many threads listed.")
    nights: int = Field(7, ge=1, description="Nights shown by default (--night).")
    weeks: int = Field(4, ge=1, description="Weeks shown by default (--week).")


# Every post and reply, one row each; role: customer | staff | bot (a bot flag wins).
_POSTS = """
WITH posts AS (
    SELECT i.source, coalesce(i.thread_id, i.external_id) AS thread_id,
           i.reply_to IS NOT NULL AS is_reply, i.thread_id IS NOT NULL AS has_thread,
           i.author_hash,
           CASE WHEN i.author_is_bot OR i.author_role = 'bot' THEN 'bot'
                ELSE coalesce(i.author_role, 'customer') END AS role,
           i.created_at, i.url,
           -- a Slack thread has no title: its first words stand for it
           coalesce(nullif(i.title, ''), left(i.body, 100)) AS title
    FROM items i
    WHERE NOT i.deleted AND (len($sources) = 0 OR list_contains($sources, i.source))
      AND (len($kinds) = 0 OR list_contains($kinds, i.kind))
    UNION ALL
    SELECT r.source, r.thread_id, TRUE, TRUE, r.author_hash, r.author_role, r.created_at,
           NULL, NULL
    FROM thread_replies r JOIN items i ON i.source = r.source AND i.external_id = r.thread_id
    WHERE NOT i.deleted AND (len($sources) = 0 OR list_contains($sources, r.source))
      AND (len($kinds) = 0 OR list_contains($kinds, i.kind))
),
people AS (SELECT * FROM posts WHERE role <> 'bot' AND created_at <= $now),
first_seen AS (
    SELECT author_hash, min(created_at) AS first_at FROM people
    WHERE author_hash IS NOT NULL GROUP BY ALL
),
threads AS (
    SELECT s.source, s.thread_id, s.created_at, s.url, s.title,
           (SELECT min(p.created_at) FROM people p
            WHERE p.source = s.source AND p.thread_id = s.thread_id AND p.is_reply
              AND p.role = 'staff' AND p.created_at >= s.created_at) AS first_staff_at,
           (SELECT count(*) FROM people p
            WHERE p.source = s.source AND p.thread_id = s.thread_id AND p.is_reply) AS replies
    FROM people s
    WHERE NOT s.is_reply AND s.has_thread AND s.role = 'customer'
)
"""

_PERIODS = _POSTS + """
, periods AS (SELECT unnest($starts) AS start_at, unnest($ends) AS end_at)
SELECT w.start_at,
    (SELECT count(*) FROM people p WHERE NOT p.is_reply
       AND p.created_at >= w.start_at AND p.created_at < w.end_at) AS posts,
    (SELECT count(*) FROM people p WHERE p.is_reply
       AND p.created_at >= w.start_at AND p.created_at < w.end_at) AS replies,
    (SELECT count(DISTINCT p.author_hash) FROM people p
       WHERE p.created_at >= w.start_at AND p.created_at < w.end_at) AS active_participants,
    (SELECT count(*) FROM first_seen f
       WHERE f.first_at >= w.start_at AND f.first_at < w.end_at) AS new_participants,
    (SELECT count(*) FROM threads t
       WHERE t.created_at >= w.start_at AND t.created_at < w.end_at) AS customer_threads,
    (SELECT count(*) FROM threads t WHERE t.first_staff_at IS NOT NULL
       AND t.created_at >= w.start_at AND t.created_at < w.end_at) AS answered_threads,
    -- hours to the hundredth (36 s): a reader's precision, and no float tails in JSON
    (SELECT round(median(epoch(t.first_staff_at) - epoch(t.created_at)) / 3600, 2) FROM threads t
       WHERE t.first_staff_at IS NOT NULL
       AND t.created_at >= w.start_at AND t.created_at < w.end_at) AS median_hours_to_staff_reply
FROM periods w ORDER BY w.start_at
"""

_UNANSWERED = _POSTS + """
SELECT source, thread_id, title, url, created_at, replies,
       round((epoch($now) - epoch(created_at)) / 3600, 2) AS hours_waiting
FROM threads
WHERE first_staff_at IS NULL AND created_at <= $answer_by AND created_at >= $oldest
ORDER BY created_at, source, thread_id
"""


def has_thread_data(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether any source brought thread data (thread ids or folded replies)."""
    return bool(con.execute(
        "SELECT EXISTS (SELECT 1 FROM items WHERE thread_id IS NOT NULL) "
        "OR EXISTS (SELECT 1 FROM thread_replies)").fetchone()[0])


def staff_answered_sql(alias: str = "i") -> str:
    """SQL over ``items`` row ``alias``: TRUE when its thread has a (non-bot) staff reply, FALSE
    when it has none, NULL when its source brings no thread data (then nobody knows)."""
    return f"""CASE WHEN {alias}.thread_id IS NULL AND NOT EXISTS (
            SELECT 1 FROM thread_replies r0 WHERE r0.source = {alias}.source
              AND r0.thread_id = {alias}.external_id) THEN NULL
        ELSE EXISTS (SELECT 1 FROM items r WHERE r.source = {alias}.source
                       AND r.thread_id = {alias}.thread_id AND r.reply_to IS NOT NULL
                       AND r.author_role = 'staff' AND NOT r.author_is_bot AND NOT r.deleted)
          OR EXISTS (SELECT 1 FROM thread_replies r WHERE r.source = {alias}.source
                       AND r.thread_id = coalesce({alias}.thread_id, {alias}.external_id)
                       AND r.author_role = 'staff') END"""


@dataclass(frozen=True)
class PulsePeriod:
    start: datetime
    end: datetime
    posts: int
    replies: int
    active_participants: int
    new_participants: int
    customer_threads: int
    answered_threads: int
    median_hours_to_staff_reply: float | None

    @property
    def answered_share(self) -> float | None:
        """Share of the period's customer threads with a staff reply (None: no such thread)."""
        return self.answered_threads / self.customer_threads if self.customer_threads else None

    def as_dict(self) -> dict:
        return {**asdict(self), "start": self.start.isoformat(), "end": self.end.isoformat(),
                "answered_share": self.answered_share}


@dataclass(frozen=True)
class Unanswered:
    source: str
    thread_id: str
    title: str
    url: str | None
    created_at: datetime
    hours_waiting: float
    replies: int  # customer replies meanwhile (bots are not counted)

    def as_dict(self) -> dict:
        return {**asdict(self), "created_at": self.created_at.isoformat()}


@dataclass(frozen=True)
class Pulse:
    as_of: datetime
    period: Period
    periods: list[PulsePeriod]
    unanswered: list[Unanswered]
    unanswered_hours: float
    unanswered_total: int = 0  # all of them; ``unanswered`` holds the oldest max_unanswered

    def as_dict(self) -> dict:
        return {"as_of": self.as_of.isoformat(), "period": self.period,
                "unanswered_hours": self.unanswered_hours,
                "unanswered_total": self.unanswered_total,
                "periods": [p.as_dict() for p in self.periods],
                "unanswered": [u.as_dict() for u in self.unanswered]}


def period_windows(as_of: datetime, period: Period, *, count: int | None = None,
                   since: datetime | None = None) -> list[tuple[datetime, datetime]]:
    """Whole UTC nights (or ISO weeks, Monday first) up to the one holding ``as_of``, oldest
    first: the last ``count``, or every one from the one holding ``since``."""
    day = as_of.replace(hour=0, minute=0, second=0, microsecond=0)
    step = timedelta(days=1 if period == "night" else 7)
    last = day if period == "night" else day - timedelta(days=day.weekday())
    windows = []
    start = last
    while True:
        windows.append((start, start + step))
        if since is not None:
            if start <= since:
                break
        elif len(windows) >= (count or 1):
            break
        start -= step
    return windows[::-1]


def compute_pulse(con: duckdb.DuckDBPyConnection, config: PulseConfig, *, as_of: datetime,
                  period: Period = "night", since: datetime | None = None,
                  sources: list[str] | None = None, kinds: list[str] | None = None) -> Pulse:
    """The pulse per night or week up to ``as_of`` and the unanswered customer threads, over
    the items of ``sources`` and ``kinds`` (``items.kind``; empty or None: all). A warehouse
    an older version wrote has the thread columns too: ``db.connect`` upgrades it on any open.
    """
    windows = period_windows(as_of, period, since=since,
                             count=config.nights if period == "night" else config.weeks)
    params = {"now": as_of, "sources": list(sources or []), "kinds": list(kinds or [])}
    rows = con.execute(_PERIODS, {**params, "starts": [w[0] for w in windows],
                                  "ends": [w[1] for w in windows]}).fetchall()
    ends = dict(windows)
    periods = [PulsePeriod(start=r[0], end=ends.get(r[0], r[0]), posts=r[1], replies=r[2],
                           active_participants=r[3], new_participants=r[4],
                           customer_threads=r[5], answered_threads=r[6],
                           median_hours_to_staff_reply=r[7]) for r in rows]
    waiting = con.execute(_UNANSWERED, {
        **params, "answer_by": as_of - timedelta(hours=config.unanswered_hours),
        "oldest": as_of - timedelta(days=config.unanswered_days)}).fetchall()
    unanswered = [Unanswered(source=r[0], thread_id=r[1], title=r[2] or "", url=r[3],
                             created_at=r[4], replies=r[5], hours_waiting=r[6])
                  for r in waiting[: config.max_unanswered]]
    return Pulse(as_of=as_of, period=period, periods=periods, unanswered=unanswered,
                 unanswered_hours=config.unanswered_hours, unanswered_total=len(waiting))


__all__ = ["Pulse", "PulseConfig", "PulsePeriod", "Unanswered", "compute_pulse",
           "has_thread_data", "period_windows", "staff_answered_sql"]
