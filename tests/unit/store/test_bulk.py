"""insert_rows: one executemany, the same rows as SQLAlchemy's own INSERT would store."""

from __future__ import annotations

import pytest
from sqlalchemy import (
    Boolean,
    Column,
    Integer,
    MetaData,
    String,
    Table,
    create_engine,
    insert,
    select,
)
from sqlalchemy.exc import IntegrityError

from tisa.store.bulk import _driver_insert, insert_rows

META = MetaData()
ROWS_TABLE = Table("rows", META, Column("pk", Integer, primary_key=True),
                   Column("name", String, nullable=False, unique=True),
                   Column("n", Integer), Column("flag", Boolean))
DEFAULTED = Table("defaulted", META, Column("pk", Integer, primary_key=True),
                  Column("name", String), Column("kind", String, default="plain"))
ROWS = [{"flag": True, "name": "a", "n": 1}, {"flag": False, "name": "b", "n": None},
        {"flag": None, "name": "ü €", "n": 2**53 - 1}]


def _stored(table: Table, rows: list[dict[str, object]], fast: bool) -> list[tuple[object, ...]]:
    engine = create_engine("sqlite://")
    META.create_all(engine)
    with engine.begin() as conn:
        if fast:
            insert_rows(conn, table, rows)
        else:
            conn.execute(insert(table), rows)
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(select(table).order_by(table.c.pk))]


def test_rows_stored_as_sqlalchemys_insert_stores_them() -> None:
    assert _stored(ROWS_TABLE, ROWS, fast=True) == _stored(ROWS_TABLE, ROWS, fast=False)
    assert _stored(ROWS_TABLE, ROWS, fast=True)[0] == (1, "a", 1, True)


def test_sqlite_rows_go_to_the_driver_with_one_compiled_insert() -> None:
    dialect = create_engine("sqlite://").dialect
    driver = _driver_insert(dialect, ROWS_TABLE, frozenset({"n", "flag", "name"}))
    assert driver is not None
    sql, order = driver
    assert sql == "INSERT INTO rows (name, n, flag) VALUES (?, ?, ?)"
    assert order == ("name", "n", "flag")


def test_a_column_default_takes_sqlalchemys_path() -> None:
    dialect = create_engine("sqlite://").dialect
    assert _driver_insert(dialect, DEFAULTED, frozenset({"name"})) is None
    assert _stored(DEFAULTED, [{"name": "x"}], fast=True) == [(1, "x", "plain")]


def test_rows_with_other_columns_are_refused() -> None:
    engine = create_engine("sqlite://")
    META.create_all(engine)
    with engine.begin() as conn, pytest.raises((ValueError, KeyError)):
        insert_rows(conn, ROWS_TABLE, [{"name": "a", "n": 1}, {"name": "b", "flag": True}])


def test_a_duplicate_is_sqlalchemys_integrity_error() -> None:
    engine = create_engine("sqlite://")
    META.create_all(engine)
    with engine.begin() as conn, pytest.raises(IntegrityError):
        insert_rows(conn, ROWS_TABLE, [{"name": "a"}, {"name": "a"}])


def test_rows_of_one_column() -> None:
    rows: list[dict[str, object]] = [{"name": "a"}, {"name": "b"}]
    assert _stored(ROWS_TABLE, rows, fast=True) == [(1, "a", None, None), (2, "b", None, None)]
