"""Settings of the clean stage (``[clean]``)."""

from __future__ import annotations

from pydantic import Field

from feedback_pipeline.authors import BOT_NAMES, BOT_SUFFIXES, BotNames
from feedback_pipeline.section import Section


class CleanConfig(Section):
    min_words: int = 3
    max_chars: int = 2_000
    bot_authors: list[str] = Field(default_factory=lambda: list(BOT_NAMES))
    bot_author_suffixes: list[str] = Field(default_factory=lambda: list(BOT_SUFFIXES))

    def bots(self) -> BotNames:
        """The bot rule ingest applies while author handles are still in plain."""
        return BotNames.of(self.bot_authors, self.bot_author_suffixes)


__all__ = ["CleanConfig"]
