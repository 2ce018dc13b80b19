"""The DuckDB warehouse: connecting, the schema, and the SQL files in ``warehouse/``."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path

import duckdb

from .config import PROJECT_ROOT
from .errors import WarehouseError, WarehouseLockedError


def schema_files() -> list[str]:
    """``schema.sql`` first, then every ``schema_<part>.sql`` (sinks and connectors add their own)."""
    repo = PROJECT_ROOT / "warehouse"
    if repo.is_dir():
        names = [p.name for p in repo.glob("schema_*.sql")]
    else:
        packaged = resources.files("feedback_pipeline").joinpath("_warehouse_sql")
        names = [p.name for p in packaged.iterdir() if p.name.startswith("schema_")]
    return ["schema.sql", *sorted(names)]


def sql_text(name: str) -> str:
    """Read ``warehouse/<name>`` from the source tree, or from the installed wheel."""
    repo_file = PROJECT_ROOT / "warehouse" / name
    if repo_file.exists():
        return repo_file.read_text(encoding="utf-8")
    packaged = resources.files("feedback_pipeline").joinpath("_warehouse_sql", name)
    if packaged.is_file():
        return packaged.read_text(encoding="utf-8")
    raise WarehouseError(f"SQL file {name} is missing from warehouse/ and from the installed package")


def connect(path: Path | str, *, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """Open the warehouse (creating it and its schema if needed).

    Raises:
        WarehouseError: the file is locked by another process or is not a DuckDB database.
    """
    target = str(path)
    if target != ":memory:":
        Path(target).parent.mkdir(parents=True, exist_ok=True)
    try:
        con = duckdb.connect(target, read_only=read_only)
    except duckdb.IOException as exc:
        if "lock" in str(exc).lower():
            raise locked_error(target, str(exc)) from exc
        raise WarehouseError(f"cannot open the warehouse {target}: {exc}") from exc
    except duckdb.Error as exc:
        raise WarehouseError(f"cannot open the warehouse {target}: {exc}") from exc
    if not read_only:
        for name in schema_files():
            con.execute(sql_text(name))
    return con


def locked_error(target: str, duckdb_message: str) -> WarehouseLockedError:
    """The clear message for DuckDB's "Could not set lock on file ... (PID n)" error."""
    found = re.search(r"\(PID (\d+)\)", duckdb_message)
    pid = int(found.group(1)) if found else None
    who = f"process {pid}" if pid else "another process"
    return WarehouseLockedError(
        f"the warehouse {target} is in use by {who} (another feedback-pipeline run, a `themes` "
        "command or a notebook): DuckDB lets no two processes share the file while one of "
        "them writes, so nothing was read or changed. Wait for that process to finish and "
        "try again"
        + (f" (`ps -p {pid}` shows it; stop it only if it hangs)." if pid else "."),
        path=target, pid=pid)


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    con.execute("BEGIN TRANSACTION")
    try:
        yield con
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")


def named_params(sql: str) -> set[str]:
    return set(re.findall(r"\$([a-z_][a-z0-9_]*)", sql))


def rows_as_dicts(cursor: duckdb.DuckDBPyConnection) -> list[dict]:
    cols = [d[0] for d in cursor.description]
    return [dict(zip(cols, row, strict=True)) for row in cursor.fetchall()]


__all__ = ["connect", "rows_as_dicts", "sql_text", "transaction"]
