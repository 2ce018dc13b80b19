"""Authors at ingest: the only moment their handles are seen in plain.

A handle is pseudonymised before storage (a keyed hash per source, so distinct authors can be
counted without keeping who they are), and whether it names a bot is decided here for the same
reason: afterwards only the hash is left.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Iterable
from dataclasses import dataclass

DEFAULT_SALT = "feedback-pipeline"
BOT_NAMES = ("bot", "system", "automation")
BOT_SUFFIXES = ("[bot]", "-bot", "_bot")


@dataclass(frozen=True)
class BotNames:
    """Author names (case-insensitive) and name endings that mark an automated author."""

    names: frozenset[str] = frozenset(BOT_NAMES)
    suffixes: tuple[str, ...] = BOT_SUFFIXES

    @classmethod
    def of(cls, names: Iterable[str], suffixes: Iterable[str]) -> BotNames:
        """Lower-cased once here: ``match`` runs for every ingested record."""
        return cls(frozenset(n.lower() for n in names), tuple(s.lower() for s in suffixes))

    def match(self, author: str | None) -> bool:
        if not author:
            return False
        name = author.strip().lower()
        return name in self.names or name.endswith(self.suffixes)


def pseudonymise(source: str, author: str | None, salt: str) -> str | None:
    """Stable per-source pseudonym: counts distinct authors without keeping handles."""
    if not author:
        return None
    digest = hmac.new(salt.encode(), f"{source}\0{author}".encode(), hashlib.sha256)
    return "a_" + digest.hexdigest()[:16]


def author_salt(env_var: str) -> str:
    return os.environ.get(env_var) or DEFAULT_SALT


__all__ = ["BOT_NAMES", "BOT_SUFFIXES", "DEFAULT_SALT", "BotNames", "author_salt", "pseudonymise"]
