"""Typed settings of the Jira sink (``[deliver.jira]`` in the TOML file).

Secrets are never in the file: ``user_env`` / ``token_env`` name the environment variables.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, SecretStr

from feedback_pipeline.section import Section

THEME_LABEL_PREFIX = "feedback-theme-"  # + theme id: the label that finds a theme's issue


class PriorityRule(Section):
    """Themes ranked ``<= max_rank`` get priority ``name`` (the first matching rule wins)."""

    max_rank: int
    name: str


class UrgencyRule(Section):
    """A theme that matches the rule gets priority ``priority``, with the rule named as the reason
    in the issue (the first matching rule in ``urgency`` wins; none: the rank rules).

    With ``terms``, the rule matches when at least ``min_items`` of the theme's reports contain
    one of them; with ``trends``, when the theme's trend flag is one of them and it has at least
    ``min_items`` reports in the trend window. A rule with both needs both.
    """

    name: str
    priority: str
    terms: list[str] = Field(
        default_factory=list, description="Words or phrases in any language, matched "
        "case-insensitively where a word starts (\"cancel\" also matches \"cancelled\").")
    trends: list[Literal["new", "rising", "steady", "fading"]] = Field(default_factory=list)
    min_items: int = Field(1, ge=1)


# Vocabulary in the languages the demo and our customers write in; extend it in the config.
SECURITY_TERMS = [
    "breach", "hacked", "hacker", "fraud", "unauthorised", "unauthorized", "phishing",
    "stole", "compromised", "data leak", "account takeover",
    "gehackt", "betrug", "unbefugt", "datenleck",  # de
    "piraté", "fraude", "non autorisé", "fuite de données",  # fr (fraude: es, pt too)
    "hackeado", "no autorizado", "robo de cuenta", "filtración",  # es
    "não autorizado", "invadida", "vazamento",  # pt
]
CHURN_TERMS = [
    "cancel my", "cancel the subscription", "cancel subscription", "close my account",
    "close account", "delete my account", "delete account", "terminate my", "switch to another",
    "switching to", "refund",
    "kündigen", "konto löschen", "konto schließen",  # de
    "résilier", "supprimer mon compte", "fermer mon compte", "annuler mon abonnement",  # fr
    "cancelar", "eliminar mi cuenta", "cerrar mi cuenta", "darme de baja",  # es
    "excluir minha conta", "encerrar minha conta",  # pt
]


def _default_urgency() -> list[UrgencyRule]:
    return [UrgencyRule(name="security", priority="Highest", terms=SECURITY_TERMS, min_items=2),
            UrgencyRule(name="churn", priority="High", terms=CHURN_TERMS, min_items=3),
            UrgencyRule(name="spike", priority="High", trends=["new", "rising"], min_items=10)]


class SignificantChange(Section):
    """When a nightly refresh also adds a comment (the description is refreshed silently)."""

    volume_factor: float = Field(
        2.0, description="Comment when the report count reaches this multiple of the count at "
        "the last comment (or creation). 0 disables.")
    new_source: bool = Field(True, description="Comment when reports arrive from a new source.")


class JiraConfig(Section):
    enabled: bool = False
    server: str = Field("", description="Base URL, e.g. https://acme.atlassian.net")
    auth: Literal["basic", "pat"] = Field(
        "basic", description="basic: e-mail/user + API token (Cloud, or Server password); "
        "pat: Data Center personal access token (Bearer).")
    user_env: str = "FP_JIRA_USER"
    token_env: str = "FP_JIRA_TOKEN"
    timeout_seconds: float = 30.0
    max_retries: int = Field(3, ge=0, le=5, description="Retries of 429/503/connection errors.")

    project: str = "FB"
    issue_type: str = Field("Task", description="The issue type when no mapping applies.")
    issue_types: dict[str, str] = Field(
        default_factory=lambda: {"problem": "Bug", "request": "Story"}, description="Issue "
        "type per dominant item type (request, problem, question, praise); each must exist in "
        "the project.")
    labels: list[str] = Field(default_factory=lambda: ["customer-feedback"])
    components: list[str] = Field(default_factory=list)
    custom_fields: dict[str, Any] = Field(
        default_factory=dict, description="Extra create fields as sent, e.g. "
        '{customfield_10010 = {value = "Feedback"}}.')
    priorities: list[PriorityRule] = Field(default_factory=lambda: [
        PriorityRule(max_rank=3, name="High"), PriorityRule(max_rank=10, name="Medium"),
        PriorityRule(max_rank=1_000_000, name="Low")])
    set_priority: bool = True
    urgency: list[UrgencyRule] = Field(
        default_factory=_default_urgency, description="Rules that set the priority before the "
        "rank rules (security and churn vocabulary, a spike); the first that matches wins.")
    related_similarity: float = Field(
        0.6, ge=-1.0, le=1.0, description="Centroid cosine at or above which another active "
        "theme is listed as related in the issue.")
    duplicate_similarity: float = Field(
        0.85, ge=-1.0, le=1.0, description="Centroid cosine at or above which it is listed as "
        "a possible duplicate.")
    related_max: int = Field(5, ge=0, description="Related themes listed at most.")
    score_table: Literal["expand", "panel"] = Field(
        "expand", description="How the score breakdown (last in the issue) is wrapped: expand, "
        "a collapsed {expand} block; panel, a titled {panel} for renderers without {expand}.")

    top_n: int = Field(20, description="Only the top N ranked themes may get a new issue.")
    min_score: float = 0.0
    min_authors: int = Field(3, description="Distinct authors a theme needs for a new issue.")

    backlog_match: bool = True
    backlog_similarity: float = Field(
        0.6, description="Cosine (same embedding model) at or above which a theme is linked to "
        "an existing issue instead of creating one.")
    backlog_closed_days: int = Field(90, description="Recently closed issues also count.")
    backlog_max_issues: int = 2_000

    create_probe_gap: int = Field(
        10, ge=1, description="After a create whose answer was lost, missing issue keys in a "
        "row that end the direct look-up for it (deleted or moved issues leave gaps).")
    create_probe_max: int = Field(
        500, ge=1, description="Issues read at most by that look-up (issues filed in the "
        "project since the create).")

    comment_on_declined: bool = Field(
        False, description="Comment on Won't Do / Declined issues when the theme resurges.")
    declined_resolutions: list[str] = Field(default_factory=lambda: [
        "Won't Do", "Won't Fix", "Declined", "Duplicate", "Cannot Reproduce", "Rejected"])
    resurge_min_items: int = Field(3, description="New reports after resolution that count as "
                                   "a resurgence of a Done issue.")
    significant_change: SignificantChange = Field(default_factory=SignificantChange)
    notify_on_refresh: bool = Field(
        False, description="Send watchers e-mail for the nightly description refresh. False "
        "sends notifyUsers=false, which Jira Cloud allows to project admins only.")
    follow_lineage: bool = Field(
        True, description="Follow theme lineage (theme_events): link merged and split themes' "
        "issues, move a merged theme's issue to the theme it merged into when that one has "
        "none, and comment once when a theme fades or comes back.")
    merge_link_type: str = Field(
        "Relates", description="Jira issue link type (its name, e.g. Relates, Duplicate) "
        "between the issue of a merged theme (inward) and the issue it merged into.")
    split_link_type: str = Field(
        "Relates", description="Jira issue link type between the issue of a split-off part "
        "(inward) and the original theme's issue.")
    evidence_url_template: str = Field(
        "", description="URL of a theme's evidence for remote links, e.g. "
        "https://feedback.example.com/themes/{theme_id}; empty: the Jira label search.")

    def credentials(self) -> tuple[str | None, SecretStr]:
        """(user, token) from the environment or Prefect Secret blocks (secrets.py); fails
        naming the variable and the block that are missing."""
        from feedback_pipeline.secrets import resolve_secret

        token = resolve_secret(self.token_env, what="the Jira token (an API token on Cloud, a "
                               "personal access token on Data Center)")
        if self.auth == "pat":
            return None, token
        user = resolve_secret(self.user_env, what="the Jira user (the account e-mail on Cloud; "
                              "or set deliver.jira.auth = \"pat\")")
        return user.get_secret_value(), token

    def evidence_url(self, theme_id: int) -> str:
        """Where all of a theme's reports are (remote links, the issue's "all reports" link)."""
        if self.evidence_url_template:
            return self.evidence_url_template.format(theme_id=theme_id)
        return (f"{self.server.rstrip('/')}/issues/?jql=labels%20%3D%20"
                f"{THEME_LABEL_PREFIX}{theme_id}")

    def priority_for_rank(self, rank: int) -> str | None:
        for rule in self.priorities:
            if rank <= rule.max_rank:
                return rule.name
        return None


__all__ = ["CHURN_TERMS", "SECURITY_TERMS", "JiraConfig", "PriorityRule", "SignificantChange",
           "UrgencyRule"]
