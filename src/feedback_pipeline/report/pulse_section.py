"""The report's "Community pulse" section: per week and per night, how many people took part,
how many posts and replies, how many customer threads a staff member answered and how fast, and
the customer threads still waiting (with links). Figures: ``rank.pulse``; '' without thread data.
"""

from __future__ import annotations

import duckdb

from feedback_pipeline.rank.pulse import Pulse, PulseConfig, compute_pulse, has_thread_data
from feedback_pipeline.warehouse.runs import resolve_as_of
from feedback_pipeline.report.cards import e, link, text
from feedback_pipeline.report.pulse_text import hours_text, share_text

HEADINGS = ("Period", "Active", "New", "Posts", "Replies", "Customer threads",
            "Staff-answered", "Median first staff reply")


def report_pulse(con: duckdb.DuckDBPyConnection, config: PulseConfig,
                 as_of: str = "latest") -> tuple[Pulse, Pulse] | None:
    """(per week, per night) up to the newest item, or None when no source brings threads."""
    if not has_thread_data(con):
        return None
    when = resolve_as_of(con, as_of)
    return (compute_pulse(con, config, as_of=when, period="week"),
            compute_pulse(con, config, as_of=when, period="night"))


def _table(pulse: Pulse, caption: str) -> str:
    rows = []
    for p in reversed(pulse.periods):  # the newest first
        cells = (f"{p.start:%Y-%m-%d}", p.active_participants, p.new_participants, p.posts,
                 p.replies, p.customer_threads,
                 f"{p.answered_threads} ({share_text(p.answered_share)})",
                 hours_text(p.median_hours_to_staff_reply))
        rows.append("<tr>" + "".join(f"<td>{e(c)}</td>" for c in cells) + "</tr>")
    head = "".join(f'<th scope="col">{e(h)}</th>' for h in HEADINGS)
    return (f'<table class="pulse"><caption>{e(caption)}</caption><thead><tr>{head}</tr></thead>'
            f"<tbody>{''.join(rows)}</tbody></table>")


def pulse_section(pulse: tuple[Pulse, Pulse] | None) -> str:
    """(weeks, nights) as two tables and the waiting threads; '' when there is no thread data."""
    if pulse is None:
        return ""
    weeks, nights = pulse
    if weeks.unanswered:
        waiting = "".join(
            f'<li>{link(u.url, text(u.title, 120))} <span class="meta">{e(u.source)}, '
            f"waiting {e(hours_text(u.hours_waiting))}"
            + (f", {u.replies} customer repl{'y' if u.replies == 1 else 'ies'}" if u.replies
               else "") + "</span></li>" for u in weeks.unanswered)
        unanswered = (f"<h3>{weeks.unanswered_total} customer threads waiting for a staff reply "
                      f"over {weeks.unanswered_hours:g} h (the oldest {len(weeks.unanswered)})"
                      f'</h3><ul class="unanswered">{waiting}</ul>')
    else:
        unanswered = (f'<p class="none">No customer thread waits for a staff reply over '
                      f"{weeks.unanswered_hours:g} h.</p>")
    return (f'<section id="pulse"><h2>Community pulse</h2><p class="help">As of '
            f"{weeks.as_of:%Y-%m-%d %H:%M} UTC. Participants are distinct authors who posted or "
            "replied; bots never count. A customer thread is answered when a staff member "
            "replied; <code>feedback-pipeline pulse</code> prints the same figures.</p>"
            + _table(weeks, "Per week (ISO weeks, Monday first)")
            + _table(nights, "Per night (UTC)") + unanswered + "</section>")


__all__ = ["pulse_section", "report_pulse"]
