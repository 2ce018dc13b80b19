"""The customer-value line of a theme's Jira issue: accounts affected, ARR at stake, by segment,
and the top accounts by their label (a configured name, the id or a pseudonym: never an e-mail,
see ``ingest.accounts.account_label``), escaped like every other customer string."""

from __future__ import annotations

from feedback_pipeline.markup import jira_text


def amount(arr: float | int | None) -> str:
    return f"{float(arr or 0):,.0f}"


def value_lines(value: dict | None) -> list[str]:
    """['*Accounts affected / ARR at stake:* 2 / 132,000 (…) · top accounts: …']; [] when no
    known account asks."""
    if not value or not value.get("accounts"):
        return []
    segments = ", ".join(f"{jira_text(s['name'], 40)} {amount(s['arr'])}"
                         for s in (value.get("by_segment") or [])[:4])
    top = ", ".join(f"{jira_text(a['label'], 60)} ({amount(a['arr'])}, "
                    f"{jira_text(a.get('plan') or 'no plan', 30)})"
                    for a in value.get("top_accounts") or [])
    line = (f"*Accounts affected / ARR at stake:* {value['accounts']:,} / "
            f"{amount(value['arr'])}" + (f" (by segment: {segments})" if segments else ""))
    return [line + (f" · top accounts: {top}" if top else "")]


__all__ = ["amount", "value_lines"]
