"""Many rows into one table with one ``executemany``, the INSERT compiled once.

SQLAlchemy's ``conn.execute(insert(table), rows)`` builds and type-processes the
parameters of every row in Python (``construct_params``), several microseconds a row; an
exchange batch writes a few rows per item. On SQLite, when no column of the row needs a
bind conversion that the driver would not do the same way, the rows go to the driver as
tuples for an INSERT compiled once per (table, columns). Anything else (PostgreSQL, a
column type with its own conversion) takes SQLAlchemy's ordinary path: the stored values
are the same either way.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import lru_cache
from operator import itemgetter
from typing import Any

from sqlalchemy import Boolean, Connection, Table, insert
from sqlalchemy.engine.interfaces import Dialect


def insert_rows(conn: Connection, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """INSERT ``rows`` (all with the same keys) into ``table`` in one ``executemany``."""
    if not rows:
        return
    columns = frozenset(rows[0])
    driver = _driver_insert(conn.dialect, table, columns) if conn.dialect.name == "sqlite" else None
    if driver is None:
        conn.execute(insert(table), list(rows))
        return
    sql, order = driver
    if any(len(row) != len(order) for row in rows):
        raise ValueError(f"rows for {table.name} do not all have the same columns")
    if len(order) == 1:
        conn.exec_driver_sql(sql, [(row[order[0]],) for row in rows])
    else:
        values = itemgetter(*order)  # a tuple per row, built in C
        conn.exec_driver_sql(sql, [values(row) for row in rows])


@lru_cache(maxsize=64)
def _driver_insert(dialect: Dialect, table: Table, columns: frozenset[str]
                   ) -> tuple[str, tuple[str, ...]] | None:
    """The driver-level INSERT and the order of its ``?`` placeholders, or None when a
    column's type converts values on the way in (a boolean is 0/1 either way) or a column
    left out has a default that SQLAlchemy fills in."""
    if dialect.paramstyle != "qmark":
        return None
    if any(c.default is not None for c in table.c if c.name not in columns):
        return None
    for name in columns:
        column_type = table.c[name].type
        if (column_type._cached_bind_processor(dialect) is not None
                and not isinstance(column_type, Boolean)):
            return None
    compiled = insert(table).compile(dialect=dialect, column_keys=sorted(columns))
    order = tuple(compiled.positiontup or ())
    if set(order) != columns or len(order) != len(columns):
        return None  # placeholders that are not the columns once each (not expected)
    return str(compiled), order
