"""How much of the machine DuckDB may take (the ``[duckdb]`` section)."""

from __future__ import annotations

import re

from pydantic import Field, field_validator

from feedback_pipeline.section import Section

_SIZE = re.compile(r"\s*\d+(\.\d+)?\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)\s*", re.IGNORECASE)


class DuckDBConfig(Section):
    """DuckDB's own memory counts in the night's resident memory: its buffer cache keeps the
    tables it read, and a hash join or sort holds its whole build side unless the limit makes
    it spill to disk (``<warehouse>.tmp/``). Unbounded, DuckDB takes up to 80% of the machine's
    memory; a million-item night then peaked at 6.5 GiB (issue #17)."""

    memory_limit: str | None = Field(
        "1GiB", description="DuckDB's memory limit (\"1GiB\", \"512MB\"; empty: DuckDB's "
        "default of 80% of the machine's memory). Above it DuckDB spills to disk instead of "
        "growing.")
    threads: int | None = Field(None, ge=1, description="DuckDB's worker threads (default: "
                                "one per core).")

    @field_validator("memory_limit")
    @classmethod
    def _size(cls, value: str | None) -> str | None:
        if value is not None and value.strip() == "":
            return None
        if value is not None and not _SIZE.fullmatch(value):
            raise ValueError(f"{value!r} is not a size: write it like \"1GiB\" or \"512MB\"")
        return value


__all__ = ["DuckDBConfig"]
