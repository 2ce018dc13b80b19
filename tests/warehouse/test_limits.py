"""DuckDB's memory limit and threads from the ``[duckdb]`` settings (issue #17)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from feedback_pipeline.config import Settings
from feedback_pipeline.warehouse.config import DuckDBConfig
from feedback_pipeline.warehouse.db import connect


def _setting(con, name: str) -> str:
    return con.execute(f"SELECT current_setting('{name}')").fetchone()[0]


def test_the_limits_apply_to_the_warehouse_connection(tmp_path):
    path = tmp_path / "wh.duckdb"
    con = connect(path, limits=DuckDBConfig(memory_limit="512MB", threads=1))
    assert _setting(con, "memory_limit") in ("488.2 MiB", "512.0 MB")
    assert _setting(con, "threads") == 1
    con.close()
    # Read-only opens (the `themes` and `search` commands) take them too.
    ro = connect(path, read_only=True, limits=DuckDBConfig(memory_limit="256MiB"))
    assert _setting(ro, "memory_limit") == "256.0 MiB"
    ro.close()


def test_the_default_bounds_duckdb_and_empty_means_duckdbs_own_default(tmp_path):
    assert Settings().duckdb.memory_limit == "1GiB"
    con = connect(tmp_path / "a.duckdb", limits=Settings().duckdb)
    assert _setting(con, "memory_limit") == "1.0 GiB"
    con.close()
    assert DuckDBConfig(memory_limit="").memory_limit is None
    unbounded = connect(tmp_path / "b.duckdb", limits=DuckDBConfig(memory_limit=""))
    assert _setting(unbounded, "memory_limit") != "1.0 GiB"
    unbounded.close()


@pytest.mark.parametrize("value", ["lots", "1 GiB; DROP TABLE items", "-1GB", "GB"])
def test_a_limit_that_is_no_size_is_refused_by_name(value):
    with pytest.raises(ValidationError, match="is not a size"):
        DuckDBConfig(memory_limit=value)
