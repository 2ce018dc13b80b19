"""Typed settings of the Jira sink (``[deliver.jira]`` in the TOML file).

Secrets are never in the file: ``user_env`` / ``token_env`` name the environment variables.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, SecretStr

from feedback_pipeline.section import Section


class PriorityRule(Section):
    """Themes ranked ``<= max_rank`` get priority ``name`` (the first matching rule wins)."""

    max_rank: int
    name: str


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
    issue_type: str = "Task"
    labels: list[str] = Field(default_factory=lambda: ["customer-feedback"])
    components: list[str] = Field(default_factory=list)
    custom_fields: dict[str, Any] = Field(
        default_factory=dict, description="Extra create fields as sent, e.g. "
        '{customfield_10010 = {value = "Feedback"}}.')
    priorities: list[PriorityRule] = Field(default_factory=lambda: [
        PriorityRule(max_rank=3, name="High"), PriorityRule(max_rank=10, name="Medium"),
        PriorityRule(max_rank=1_000_000, name="Low")])
    set_priority: bool = True

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

    def priority_for_rank(self, rank: int) -> str | None:
        for rule in self.priorities:
            if rank <= rule.max_rank:
                return rule.name
        return None


__all__ = ["JiraConfig", "PriorityRule", "SignificantChange"]
