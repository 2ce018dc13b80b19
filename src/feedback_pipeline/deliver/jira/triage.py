"""Which priority and issue type a theme's issue gets, and why (the reason is shown in the issue).

Priority: the first ``urgency`` rule the theme matches (security or churn vocabulary in enough
reports, a spike: a new or rising trend with enough recent reports), else the rank rules.
Issue type: the theme's dominant item type (``type_mix`` of the ranking row) mapped through
``issue_types``, else ``issue_type``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from feedback_pipeline.deliver.jira.config import JiraConfig, UrgencyRule
from feedback_pipeline.embed.item_types import dominant_type
from feedback_pipeline.rank.trends import trend_phrase

ITEM_TYPE_WORDS = {"problem": "describe a problem", "request": "ask for something",
                   "question": "ask a question", "praise": "praise the product"}


@dataclass(frozen=True)
class Decision:
    value: str | None  # None: no priority is set
    reason: str
    rule: str  # the urgency rule's name, "rank", or "type"/"default" for issue types


def _rule_matches(rule: UrgencyRule, theme: dict,
                  hits: dict[str, dict[str, int]]) -> str | None:
    """Why ``rule`` fires for ``theme`` (None: it does not)."""
    parts = []
    if rule.trends:
        recent = theme.get("trend_recent") or 0
        if theme.get("trend") not in rule.trends or recent < rule.min_items:
            return None
        parts.append(f"trend {trend_phrase(theme)}")
    if rule.terms:
        terms = hits.get(rule.name) or {}
        matched = sum(terms.values())
        if matched < rule.min_items:
            return None
        words = ", ".join(f'"{t}"' for t in list(terms)[:4])
        parts.append(f"{matched} of {theme['item_count']} reports say {words}")
    return "; ".join(parts) or None


def decide_priority(theme: dict, urgency_hits: dict[str, dict[str, int]],
                    config: JiraConfig) -> Decision:
    """The priority of ``theme``'s issue: the first matching urgency rule, else its rank."""
    for rule in config.urgency:
        why = _rule_matches(rule, theme, urgency_hits)
        if why:
            return Decision(rule.priority, f"{rule.name} rule: {why}", rule.name)
    name = config.priority_for_rank(theme["rank"])
    return Decision(name, f"rank #{theme['rank']} (no urgency rule matched)", "rank")


def type_counts(theme: dict) -> dict[str, int]:
    mix = theme.get("type_mix") or {}
    mix = json.loads(mix) if isinstance(mix, str) else mix
    return {k: int(v) for k, v in mix.items() if k != "untyped" and v}


def decide_issue_type(theme: dict, config: JiraConfig) -> Decision:
    """The issue type from the dominant item type (ties and untyped themes: the default)."""
    kind, n, total = dominant_type(type_counts(theme))
    if kind is not None:
        words = f"{n} of {total} typed reports {ITEM_TYPE_WORDS.get(kind, kind)}"
        if kind in config.issue_types:
            return Decision(config.issue_types[kind], words, kind)
        return Decision(config.issue_type, f"{words} (no mapping for {kind})", "default")
    why = "no item types known" if not total else "no single dominant item type"
    return Decision(config.issue_type, why, "default")


__all__ = ["Decision", "decide_issue_type", "decide_priority", "type_counts"]
