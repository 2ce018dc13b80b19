"""The digest's community pulse block: last night and this week in one line each, and the
customer threads still waiting for a staff reply (``rank.pulse`` defines every figure).

Read with the digest's ``sources``/``kinds`` filter. Shown only once a source brings thread data
(thread ids or folded replies): without it "0% answered" would be a false alarm.
"""

from __future__ import annotations

from datetime import datetime

import duckdb

from feedback_pipeline.deliver.slack.blockkit import count_of, link, pack, plain
from feedback_pipeline.deliver.slack.config import SlackConfig
from feedback_pipeline.rank.pulse import (
    Pulse,
    PulseConfig,
    PulsePeriod,
    compute_pulse,
    has_thread_data,
)

PULSE_MAX_CHARS = 1_500
WAITING_SHOWN = 5


def digest_pulse(con: duckdb.DuckDBPyConnection, config: SlackConfig, pulse: PulseConfig,
                 *, as_of: datetime) -> tuple[Pulse, Pulse] | None:
    """(last night, this week) up to ``as_of``, or None when the block is off or has no data."""
    if not config.pulse or not has_thread_data(con):
        return None
    one = pulse.model_copy(update={"nights": 1, "weeks": 1, "max_unanswered": WAITING_SHOWN})
    scope = {"sources": list(config.sources), "kinds": list(config.item_kinds)}
    return (compute_pulse(con, one, as_of=as_of, period="night", **scope),
            compute_pulse(con, one, as_of=as_of, period="week", **scope))


def _line(label: str, p: PulsePeriod) -> str:
    line = (f"{label}: {count_of(p.active_participants, 'participant')} "
            f"({p.new_participants:,} new), {count_of(p.posts, 'post')}, "
            f"{p.replies:,} {'reply' if p.replies == 1 else 'replies'}")
    if p.customer_threads:
        line += (f"; staff answered {p.answered_threads}/{p.customer_threads} customer threads "
                 f"({100 * (p.answered_share or 0):.0f}%)")
        if p.median_hours_to_staff_reply is not None:
            line += f", first reply after {p.median_hours_to_staff_reply:.1f} h (median)"
    return line


def pulse_blocks(pulse: tuple[Pulse, Pulse] | None) -> list[dict]:
    if pulse is None:
        return []
    night, week = pulse
    lines = [f"• {_line('Last night', night.periods[-1])}",
             f"• {_line('This week', week.periods[-1])}"]
    waiting = night.unanswered
    if waiting:
        lines.append(f"• {count_of(night.unanswered_total, 'customer thread')} waiting for a "
                     f"staff reply over {night.unanswered_hours:g} h; the oldest: " + ", ".join(
            link(u.url, f"{plain(u.title, 60)} ({u.hours_waiting / 24:.1f} d)")
            for u in waiting))
    else:
        lines.append(f"• No customer thread waits for a staff reply over "
                     f"{night.unanswered_hours:g} h.")
    return pack("*:busts_in_silhouette: Community pulse* (bots not counted; "
                "`feedback-pipeline pulse`)", lines, max_blocks=1, max_chars=PULSE_MAX_CHARS)


__all__ = ["digest_pulse", "pulse_blocks"]
