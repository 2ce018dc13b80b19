"""The base of every configuration section: unknown keys are errors, never silently ignored;
a setting that names an environment variable (``*_env``) or a Secret block (``*_block``) must
hold a name, never the secret itself."""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, ValidationInfo, field_validator

from feedback_pipeline.secret_shapes import redact_secrets

_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")
# A block by name (fp-jira-token) or by type and name (slack-webhook/feedback-alerts).
_BLOCK_NAME = re.compile(r"(?:[a-z0-9][a-z0-9-]{0,63}/)?[a-z0-9][a-z0-9-]{0,127}")
_USERINFO = re.compile(r"\s*[a-zA-Z][a-zA-Z0-9+.-]*://[^/?#\s]*@")


def looks_like_name(value: str, *, block: bool = False) -> bool:
    """True for a variable name (``FP_JIRA_TOKEN``) or block name (``fp-jira-token``,
    ``slack-webhook/feedback-alerts``); false for anything shaped like a secret (a pasted token,
    a URL, a value with symbols)."""
    if not (_BLOCK_NAME if block else _ENV_NAME).fullmatch(value):
        return False
    # ghp_…, xoxb-…-shaped, or a long mix of cases and digits: a token, even if name-shaped.
    mixed = (any(c.islower() for c in value) and any(c.isupper() for c in value)
             and any(c.isdigit() for c in value))
    return not (len(value) >= 20 and mixed) and redact_secrets(value) == value


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @field_validator("*")
    @classmethod
    def _names_not_secrets(cls, value: object, info: ValidationInfo) -> object:
        name = info.field_name or ""
        block = name.endswith("_block")
        if isinstance(value, str) and value and (name.endswith("_env") or block) \
                and not looks_like_name(value, block=block):
            # Never echo the value: it is most likely the secret itself.
            raise ValueError(
                f"must name {'a Prefect block' if block else 'an environment variable'}"
                f" (like {'fp-jira-token' if block else 'FP_JIRA_TOKEN'}), but holds something "
                "else, perhaps the secret itself (not shown); put the secret in the "
                "environment and its variable's name here")
        if isinstance(value, str) and (name == "server" or name.endswith("url")) \
                and _USERINFO.match(value):
            raise ValueError(
                "must not carry credentials (user:password@ in the URL, not shown): remove "
                "them; credentials come from the environment (the *_env settings)")
        return value


__all__ = ["Section", "looks_like_name"]
