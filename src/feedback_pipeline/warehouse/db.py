"""The DuckDB connection: opening it, the schema, the SQL files in ``warehouse/``, small queries."""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa

from feedback_pipeline.errors import WarehouseError, WarehouseLockedError
from feedback_pipeline.paths import PACKAGE_DIR, sql_dir
from feedback_pipeline.warehouse.config import DuckDBConfig
from feedback_pipeline.warehouse.runs import mark_crashed_runs


def schema_files() -> list[str]:
    """``schema.sql`` first, then every ``schema_<part>.sql`` (sinks and connectors add their own)."""
    names = sorted(p.name for p in _sql_dir().glob("schema_*.sql"))
    return ["schema.sql", *names]


def sql_text(name: str) -> str:
    """Read ``warehouse/<name>`` from the installed package (or the source checkout)."""
    path = _sql_dir() / name
    if not path.is_file():
        raise WarehouseError(f"SQL file {name} is missing from {path.parent}: reinstall "
                             f"feedback-pipeline (or restore warehouse/{name} in the checkout)")
    return path.read_text(encoding="utf-8")


def _sql_dir() -> Path:
    folder = sql_dir()
    if folder is None:
        raise WarehouseError("the warehouse SQL files are missing from the installed package "
                             f"({PACKAGE_DIR}/_warehouse_sql): reinstall feedback-pipeline")
    return folder


def connect(path: Path | str, *, read_only: bool = False,
            limits: DuckDBConfig | None = None) -> duckdb.DuckDBPyConnection:
    """Open the warehouse (creating it and its schema if needed); ``limits``: DuckDB's memory
    limit and threads (the ``[duckdb]`` settings; DuckDB's defaults without).

    Raises:
        WarehouseError: the file is locked by another process or is not a DuckDB database.
    """
    target = str(path)
    if target != ":memory:":
        Path(target).parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    if not read_only and target != ":memory:":
        # DuckDB re-creates its write-ahead log (raw customer text) on later writes with the
        # process umask: from the first writable open on, this process creates owner-only files.
        os.umask(os.umask(0o077) | 0o077)
    try:
        with owner_only():
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
        # With the write lock held, a `running` row of another process is a dead run.
        mark_crashed_runs(con)
    elif target != ":memory:" and (missing := missing_columns(con)):
        con.close()
        upgrade(target, missing)
        con = duckdb.connect(target, read_only=True)
    if limits is not None:
        apply_limits(con, limits)
    return con


def apply_limits(con: duckdb.DuckDBPyConnection, limits: DuckDBConfig) -> None:
    """DuckDB's memory limit and threads for this database (all its connections)."""
    if limits.memory_limit is not None:
        con.execute(f"SET memory_limit = '{limits.memory_limit.strip()}'")
    if limits.threads is not None:
        con.execute(f"SET threads = {int(limits.threads)}")


def missing_columns(con: duckdb.DuckDBPyConnection) -> list[str]:
    """``table.column`` (or ``table``) of this version's schema that the open warehouse lacks: it
    was written by an older version and not opened read-write since. A file with none of our
    tables is not a stale warehouse, so it gets no list."""
    have = {(t, c) for t, c in con.execute(
        "SELECT table_name, column_name FROM duckdb_columns() "
        "WHERE database_name = current_database()").fetchall()}
    tables_there = {t for t, _ in have}
    if "items" not in tables_there:
        return []
    want = expected_columns()
    lacking_tables = sorted({t for t, _ in want} - tables_there)
    return lacking_tables + sorted(f"{t}.{c}" for t, c in want
                                   if t in tables_there and (t, c) not in have)


@lru_cache(maxsize=1)
def expected_columns() -> tuple[tuple[str, str], ...]:
    """(table, column) of this version's schema, built once per process on an in-memory DuckDB
    (every read-only command checks its warehouse against it)."""
    with duckdb.connect(":memory:") as fresh:
        for name in schema_files():
            fresh.execute(sql_text(name))
        return tuple(fresh.execute("SELECT table_name, column_name FROM duckdb_columns() "
                                   "WHERE database_name = current_database()").fetchall())


def upgrade(target: str, missing: list[str]) -> None:
    """Add the columns a read-only command needs, with one short read-write open: a `themes`
    or `search` after upgrading the package then works without a nightly run first."""
    try:
        connect(target).close()
    except WarehouseError as exc:
        raise WarehouseError(
            f"the warehouse {target} was written by an older feedback-pipeline (it lacks "
            f"{', '.join(missing[:3])}{' and more' if len(missing) > 3 else ''}) and could not "
            f"be upgraded now ({exc}): run `feedback-pipeline run` once with this version, "
            "then try again") from exc


@contextmanager
def owner_only() -> Iterator[None]:
    """Files created inside (the warehouse and its write-ahead log hold raw customer text) are
    readable by their owner only: 0600, folders 0700."""
    old = os.umask(0o077)
    try:
        yield
    finally:
        os.umask(old)


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


def tables(con: duckdb.DuckDBPyConnection) -> set[str]:
    """Names of the tables of the open warehouse (sinks add theirs only once they run)."""
    return {r[0] for r in con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database()"
    ).fetchall()}


def columns(con: duckdb.DuckDBPyConnection, table: str) -> set[str]:
    """Column names of ``table`` in the open warehouse; empty when there is no such table."""
    return {r[0] for r in con.execute(
        "SELECT column_name FROM duckdb_columns() WHERE database_name = current_database() "
        "AND table_name = ?", [table]).fetchall()}


def arrow_query(con: duckdb.DuckDBPyConnection, sql: str, params: dict) -> pa.Table:
    """Run a query and take its result as an Arrow table (vectors never become Python lists)."""
    with warnings.catch_warnings():
        # DuckDB notes the extra copy of DB-API results; con.sql() would avoid it but refuses to
        # run while an earlier execute() result is open on the shared connection.
        warnings.simplefilter("ignore", UserWarning)
        return con.execute(sql, params).to_arrow_table()


def arrow_batches(con: duckdb.DuckDBPyConnection, sql: str, params: dict,
                  rows: int = 20_000) -> Iterator[pa.RecordBatch]:
    """Run a query on a cursor of its own and yield its result as Arrow record batches of
    about ``rows`` rows: a stage holds one batch of vectors at a time, never the whole result
    (and never Python lists of floats). ``con`` stays free for writes while the batches flow;
    the cursor reads what was committed when the query started."""
    cursor = con.cursor()
    try:
        # A relation streams; an execute() result is materialised whole before its first batch
        # (2.7 GiB for a million vectors: measured, issue #17).
        reader = cursor.sql(sql, params=params or None).to_arrow_reader(rows)
        yield from reader
    finally:
        cursor.close()


def vectors_matched(con: duckdb.DuckDBPyConnection, model_id: str, table: str, columns: str,
                    rows: int = 20_000) -> Iterator[tuple[pa.Table, np.ndarray]]:
    """The rows of ``table`` (a table or view with a ``text_hash`` column, no vectors: narrow)
    with the vectors of their texts, one batch of vectors at a time: yields (the matched rows'
    ``columns``, their vectors as a float32 matrix, row for row).

    The vectors come from a plain scan of ``embeddings``. A join of the vectors to the items in
    DuckDB builds a hash table on whichever side the optimiser estimates smaller, and that can
    be the side with every vector of the warehouse (1.5 GB at a million texts, issue #17);
    matching each batch to ``table`` here keeps one batch of vectors in memory. Rows whose text
    has no vector are not yielded; rows sharing a text share its ``vector_row``."""
    for vectors in arrow_batches(con, "SELECT text_hash, vector FROM embeddings "
                                 "WHERE model = $model", {"model": model_id}, rows):
        con.register("vector_batch", pa.table({
            "text_hash": vectors["text_hash"],
            "vector_row": pa.array(range(vectors.num_rows), pa.int64())}))
        try:
            matched = arrow_query(con, f"SELECT b.vector_row, {columns} FROM {table} r "
                                  "JOIN vector_batch b ON b.text_hash = r.text_hash", {})
        finally:
            con.unregister("vector_batch")
        if matched.num_rows:
            rows_of = matched["vector_row"].to_numpy()
            yield matched.drop_columns(["vector_row"]), vectors_to_numpy(vectors["vector"])[rows_of]


def vectors_to_numpy(column: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """A ``FLOAT[n]`` column as an (rows, n) float32 matrix, without a Python list in between."""
    arr = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if len(arr) == 0:
        return np.zeros((0, 0), dtype=np.float32)
    flat = arr.flatten().to_numpy(zero_copy_only=False).astype(np.float32, copy=False)
    return flat.reshape(len(arr), -1)


def named_params(sql: str) -> set[str]:
    return set(re.findall(r"\$([a-z_][a-z0-9_]*)", sql))


def rows_as_dicts(cursor: duckdb.DuckDBPyConnection) -> list[dict]:
    cols = [d[0] for d in cursor.description]
    return [dict(zip(cols, row, strict=True)) for row in cursor.fetchall()]


__all__ = ["apply_limits", "arrow_batches", "arrow_query", "columns", "connect",
           "expected_columns", "missing_columns", "owner_only", "rows_as_dicts", "sql_text",
           "tables", "transaction", "vectors_matched", "vectors_to_numpy"]
