"""Fixtures for the connector tests: a started emulator per connector, tokens in the env."""

from __future__ import annotations

from collections.abc import Iterator

import duckdb
import pytest

from feedback_pipeline.ingest.source import Source
from feedback_pipeline.ingest.stage import SourceStats, ingest

from .cases import FACTORIES, Case


@pytest.fixture(params=sorted(FACTORIES))
def case(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[Case]:
    """Each connector against its emulator (parametrized over all five)."""
    emulator_cls, make = FACTORIES[request.param]
    with emulator_cls() as emu:
        built = make(emu)
        monkeypatch.setenv(built.token_env, built.token)
        yield built


def run(
    con: duckdb.DuckDBPyConnection, *sources: Source, run_id: str = "r1"
) -> dict[str, SourceStats]:
    return ingest(con, list(sources), run_id=run_id).sources


def rows(con: duckdb.DuckDBPyConnection, source: str) -> dict[str, tuple]:
    """external_id -> (title, body, deleted) for one source."""
    found = con.execute(
        "SELECT external_id, title, body, deleted FROM items WHERE source = ? ORDER BY 1", [source]
    ).fetchall()
    return {r[0]: tuple(r[1:]) for r in found}
