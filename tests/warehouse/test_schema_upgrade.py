"""Read-only commands (themes, show, search, report) on a warehouse an older version wrote."""

from __future__ import annotations

from contextlib import closing

import pytest

from feedback_pipeline.errors import WarehouseError
from feedback_pipeline.warehouse import db


@pytest.fixture
def old_warehouse(tmp_path):
    path = tmp_path / "old.duckdb"
    db.connect(path).close()
    with closing(db.duckdb.connect(str(path))) as con:
        con.execute("ALTER TABLE theme_trends DROP COLUMN window_days")
        con.execute("ALTER TABLE themes DROP COLUMN sentence")
    return path


def test_a_current_warehouse_lacks_nothing(tmp_path):
    path = tmp_path / "new.duckdb"
    db.connect(path).close()
    with closing(db.connect(path, read_only=True)) as con:
        assert db.missing_columns(con) == []


def test_a_read_only_open_upgrades_an_older_warehouse_once(old_warehouse):
    with closing(db.duckdb.connect(str(old_warehouse), read_only=True)) as con:
        assert db.missing_columns(con) == ["theme_trends.window_days", "themes.sentence"]
    with closing(db.connect(old_warehouse, read_only=True)) as con:
        assert db.missing_columns(con) == []
        with pytest.raises(db.duckdb.InvalidInputException, match="read-only"):
            con.execute("DELETE FROM themes")


def test_an_older_warehouse_that_cannot_be_upgraded_now_says_what_to_do(old_warehouse):
    # Another read-only user holds the file open in this process: the short read-write open
    # the upgrade needs is refused, as it is while a nightly run writes.
    with closing(db.duckdb.connect(str(old_warehouse), read_only=True)), \
            pytest.raises(WarehouseError, match=r"written by an older feedback-pipeline \(it lacks "
                          r"theme_trends.window_days, themes.sentence\).*run `feedback-pipeline "
                          r"run` once with this version"):
        db.connect(old_warehouse, read_only=True)


def test_a_table_added_since_is_created_by_the_read_only_open(tmp_path):
    path = tmp_path / "older.duckdb"
    db.connect(path).close()
    with closing(db.duckdb.connect(str(path))) as con:
        con.execute("DROP TABLE thread_replies")
    with closing(db.duckdb.connect(str(path), read_only=True)) as con:
        assert db.missing_columns(con) == ["thread_replies"]
    with closing(db.connect(path, read_only=True)) as con:
        assert "thread_replies" in db.tables(con)


def test_a_file_without_our_tables_is_not_taken_for_an_old_warehouse(tmp_path):
    path = tmp_path / "other.duckdb"
    with closing(db.duckdb.connect(str(path))) as con:
        con.execute("CREATE TABLE notes (x INTEGER)")
    with closing(db.duckdb.connect(str(path), read_only=True)) as con:
        assert db.missing_columns(con) == []
