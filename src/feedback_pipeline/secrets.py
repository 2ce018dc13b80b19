"""Credentials at start-up: an environment variable, else a Prefect ``Secret`` block.

The block is the one named by a setting (``token_block``), or by default the variable's name in
kebab-case (``FP_SLACK_TOKEN`` -> ``fp-slack-token``). A default block is only looked up when a
Prefect API is configured (``PREFECT_API_URL``, as in deployments), so a local run with a missing
variable fails at once instead of starting a temporary Prefect server. Prefect is imported only
when a block is read; nothing here runs at import time.
"""

from __future__ import annotations

import os

from pydantic import SecretStr

from feedback_pipeline.errors import ConfigError
from feedback_pipeline.redact import redact
from feedback_pipeline.section import looks_like_name


def _load_block(block_name: str) -> str:
    """The value of the Prefect ``Secret`` block ``block_name`` (raises what Prefect raises)."""
    try:
        from prefect.blocks.system import Secret
    except ImportError as exc:  # pragma: no cover - prefect is a declared dependency
        raise ConfigError(f"reading the Secret block '{block_name}' needs Prefect: "
                          "pip install prefect") from exc
    value = Secret.load(block_name).get()
    return value if isinstance(value, str) else str(value)


def default_block_name(env_var: str | None) -> str | None:
    """``FP_SLACK_TOKEN`` -> ``fp-slack-token`` (Prefect block names are lower kebab-case)."""
    return env_var.strip().lower().replace("_", "-") if env_var and env_var.strip() else None


def resolve_secret(env_var: str | None, block_name: str | None = None, *,
                   what: str = "a secret", block_setting: str = "token_block") -> SecretStr:
    """The secret from ``env_var`` if set, else from the Prefect ``Secret`` block ``block_name``.

    Args:
        env_var: environment variable to read first ("" or None: none).
        block_name: a Prefect ``Secret`` block, read when the variable is not set; None: the
            variable's kebab-case name, when ``PREFECT_API_URL`` is set.
        what: what the secret is, for messages ("the token of source 'github'").
        block_setting: the setting that names the block, for messages.

    Returns:
        The secret, to be unwrapped only where it is used.

    Raises:
        ConfigError: neither is set, or the block cannot be read (missing, empty, or the Prefect
            API is unreachable); the message names both the variable and the block.
    """
    if env_var and not looks_like_name(env_var):
        raise ConfigError(f"{what}: the setting that names its environment variable holds "
                          "something else, perhaps the secret itself (not shown); put the "
                          "secret in the environment and the variable's name in the setting")
    if block_name and not looks_like_name(block_name, block=True):
        raise ConfigError(f"{what}: `{block_setting}` must name a Prefect Secret block "
                          "(lower-case letters, digits, dashes); its value is not shown")
    value = os.environ.get(env_var) if env_var else None
    if value:
        return SecretStr(value)
    env_part = f"export {env_var}=..." if env_var else "set an environment variable"
    if not block_name:
        default = default_block_name(env_var)
        if not (default and os.environ.get("PREFECT_API_URL")):
            raise ConfigError(
                f"{what} is not set: {env_part} (it is never read from the TOML file), or "
                f"create the Prefect Secret block '{default or '...'}' (or name one in "
                f"`{block_setting}`) and set PREFECT_API_URL")
        block_name = default
    import httpx

    try:
        value = _load_block(block_name)
    except (ValueError, httpx.HTTPError) as exc:  # Prefect: ValueError for a missing block
        raise ConfigError(
            f"{what} is not set: {env_var or 'no environment variable'} is empty and the Prefect "
            f"Secret block '{block_name}' (`{block_setting}`) could not be read "
            f"({type(exc).__name__}: {redact(str(exc))}); {env_part} or create the block "
            f"(prefect block create secret), checking PREFECT_API_URL") from exc
    if not value:
        raise ConfigError(f"{what} is not set: the Prefect Secret block '{block_name}' is empty "
                          f"and {env_var or 'no environment variable'} is not set")
    return SecretStr(value)


__all__ = ["default_block_name", "resolve_secret"]
