"""The report's customer value: on each card, the accounts affected and ARR at stake with the
breakdown by plan and by segment and the top accounts (by their label: a configured name, the id
or a pseudonym, never an e-mail); in the page's header, the segment/plan filter applied."""

from __future__ import annotations

from typing import TYPE_CHECKING

from feedback_pipeline.markup import clean, html_escape, html_text
from feedback_pipeline.rank.value import money

if TYPE_CHECKING:
    from feedback_pipeline.report.data import ReportData


def filtered(data: ReportData) -> str:
    """' · segment enterprise' when the page is filtered; '' otherwise."""
    return f" · {html_escape(data.filtered_by)}" if data.filtered_by else ""


def _split(title: str, parts: list[dict]) -> str:
    cells = " · ".join(f"{html_text(p['name'], 40)} {p['accounts']} "
                       f"({html_escape(money(p['arr']))})" for p in parts)
    return f'<span class="value-split"><b>{html_escape(title)}:</b> {cells}</span>' if cells else ""


def value_block(theme: dict, value: dict | None) -> str:
    """'Customer value: 2 accounts · 132k ARR at stake' with its breakdown; '' when no known
    account asks. Under a segment/plan filter the headline is over the matching items and the
    breakdown over all of the theme's accounts (it says so)."""
    accounts = theme.get("accounts_affected") or 0
    if not accounts and not value:
        return ""
    head = (f'<b>Customer value:</b> {accounts} account{"" if accounts == 1 else "s"} · '
            f'<b>{html_escape(money(theme.get("arr_at_stake")))}</b> ARR at stake')
    if theme.get("filtered_by"):
        head += f" ({html_escape(theme['filtered_by'])}; breakdown over all its accounts)"
    value = value or {}
    top = ", ".join(f"{html_text(a['label'], 60)} ({html_escape(money(a['arr']))})"
                    for a in value.get("top_accounts") or [])
    parts = [_split("by plan", value.get("by_plan") or []),
             _split("by segment", value.get("by_segment") or []),
             f'<span class="value-top"><b>top accounts:</b> {top}</span>' if top else ""]
    return (f'<p class="value">{head}<br>' + "<br>".join(p for p in parts if p) + "</p>")


def value_text(value: dict | None) -> list[str]:
    """The same breakdown for the terminal (``themes show``): redacted, one line per part."""
    if not value or not value.get("accounts"):
        return []

    def split(parts: list[dict]) -> str:
        return ", ".join(f"{clean(p['name'], 40)} {p['accounts']} ({money(p['arr'])})"
                         for p in parts)

    return [f"value: {value['accounts']} accounts, ARR at stake {value['arr']:,.0f}",
            f"  by plan: {split(value.get('by_plan') or [])}",
            f"  by segment: {split(value.get('by_segment') or [])}",
            "  top accounts: " + ", ".join(f"{clean(a['label'], 60)} ({money(a['arr'])})"
                                           for a in value.get("top_accounts") or [])]


__all__ = ["filtered", "value_block", "value_text"]
