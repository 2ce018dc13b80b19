"""The digest's customer-value piece: ARR at stake and accounts, compactly, per theme, and the
``segments``/``plans`` part of the digest's item filter (``rank.value.account_filter``)."""

from __future__ import annotations

from feedback_pipeline.deliver.slack.blockkit import count_of
from feedback_pipeline.deliver.slack.config import SlackConfig
from feedback_pipeline.rank.value import account_filter, money


def value_parts(theme: dict) -> list[str]:
    """['ARR at stake 132k (2 accounts)'] for a theme known accounts ask for; else []."""
    accounts = theme.get("accounts_affected") or 0
    if not accounts:
        return []
    return [f"ARR at stake {money(theme.get('arr_at_stake'))} "
            f"({count_of(accounts, 'account')})"]


def digest_account_filter(config: SlackConfig | None, alias: str = "i") -> tuple[str, list]:
    """The ``[deliver.slack]`` segments/plans filter as SQL over ``items``; ("", []) without."""
    if not config or not (config.segments or config.plans):
        return "", []
    sql, params = account_filter(config.segments, config.plans, alias)
    return f" AND {sql}", params


__all__ = ["digest_account_filter", "value_parts"]
