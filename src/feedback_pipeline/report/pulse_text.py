"""The community pulse for the terminal (``feedback-pipeline pulse``): a table or JSON.

Thread titles are customer text: redacted (``markup.clean`` / ``json_text``), links through
``redact.safe_link_url``, as in every other output.
"""

from __future__ import annotations

from feedback_pipeline.markup import clean, json_document, json_text
from feedback_pipeline.rank.pulse import Pulse
from feedback_pipeline.redact import safe_link_url

TITLE_MAX = 70


def share_text(share: float | None) -> str:
    return "-" if share is None else f"{100 * share:.0f}%"


def hours_text(hours: float | None) -> str:
    if hours is None:
        return "-"
    return f"{hours:.1f} h" if hours < 48 else f"{hours / 24:.1f} d"


def pulse_table(pulse: Pulse) -> str:
    label = "night" if pulse.period == "night" else "week of"
    lines = [f"community pulse as of {pulse.as_of:%Y-%m-%d %H:%M} UTC (bots not counted)",
             f"{label:<10} {'posts':>5} {'replies':>7} {'active':>6} {'new':>4} "
             f"{'cust.threads':>12} {'staff-answered':>14} {'median 1st staff reply':>22}"]
    for p in pulse.periods:
        answered = f"{p.answered_threads} ({share_text(p.answered_share)})"
        lines.append(f"{p.start:%Y-%m-%d} {p.posts:>5} {p.replies:>7} {p.active_participants:>6} "
                     f"{p.new_participants:>4} {p.customer_threads:>12} {answered:>14} "
                     f"{hours_text(p.median_hours_to_staff_reply):>22}")
    lines.append("")
    if not pulse.unanswered:
        lines.append(f"no customer thread waits for a staff reply past "
                     f"{pulse.unanswered_hours:g} h")
        return "\n".join(lines)
    shown = len(pulse.unanswered)
    lines.append(f"{pulse.unanswered_total} customer thread(s) without a staff reply after "
                 f"{pulse.unanswered_hours:g} h" + (f", the oldest {shown}:" if shown <
                                                     pulse.unanswered_total else ", oldest first:"))
    for u in pulse.unanswered:
        lines.append(f"  {hours_text(u.hours_waiting):>7}  {clean(u.source, 30)}  "
                     f"{json_text(u.title, TITLE_MAX)}")
        if url := safe_link_url(u.url):
            lines.append(f"           {url}")
    return "\n".join(lines)


def pulse_json(pulse: Pulse) -> str:
    doc = pulse.as_dict()
    for u in doc["unanswered"]:
        u["title"] = json_text(u["title"], 300)
        u["url"] = safe_link_url(u["url"])
    return json_document(doc, indent=2)


__all__ = ["hours_text", "pulse_json", "pulse_table", "share_text"]
