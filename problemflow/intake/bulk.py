"""Bulk INSERT straight through the database driver's executemany.

SQLAlchemy's per-row parameter processing costs more than the insert itself at
thousands of rows per second. Here each column's own bind processor (JSON,
UTC timestamps) runs once per value, and the driver does the rest: SQLite's
executemany loops in C; on PostgreSQL one multi-row INSERT per batch costs the
server far less than a statement per row.
"""

from __future__ import annotations

from typing import Any, Optional, Sequence

from sqlalchemy import Connection, Table

_processors: dict[tuple[str, str], list] = {}


def _column_processors(table: Table, columns: Sequence[str], dialect) -> list:
    key = (table.name + ":" + ",".join(columns), dialect.name)
    found = _processors.get(key)
    if found is None:
        found = [table.c[name].type._cached_bind_processor(dialect) for name in columns]
        _processors[key] = found
    return found


def _remember_last(process):
    """The processor, skipping work when a value is the very object seen last (a batch's shared timestamp)."""
    last = [object(), None]

    def remembered(value):
        if value is last[0]:
            return last[1]
        result = process(value)
        if not isinstance(value, (dict, list)):  # mutable values may change between rows
            last[0], last[1] = value, result
        return result

    return remembered


class _RowContext:
    """What a column default that reads the row's other values (``context.get_current_parameters()``,
    as the incident's template does) is given for one row."""

    def __init__(self, row: dict[str, Any]) -> None:
        self.current_parameters = row

    def get_current_parameters(self, isolate_multiinsert_groups: bool = True) -> dict[str, Any]:
        return self.current_parameters


def _defaults(table: Table, given: Sequence[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The Python-side defaults of the columns the rows do not give: fixed values, and the
    callables to run for each row."""
    values, per_row = {}, {}
    for column in table.c:
        default = column.default
        if column.name in given or default is None or column.primary_key:
            continue
        if default.is_scalar:
            values[column.name] = default.arg
        elif default.is_callable:
            per_row[column.name] = default.arg
    return values, per_row


def _prepared(connection: Connection, table: Table, rows: list[dict[str, Any]]) -> tuple[list[str], list[tuple]]:
    """The columns and each row's driver-ready values (bind processors applied)."""
    dialect = connection.dialect
    columns = list(rows[0])
    missing, per_row = _defaults(table, columns)
    if missing or per_row:  # columns with a Python-side default that the rows do not give
        rows = [{**row, **missing, **{name: make(_RowContext(row)) for name, make in per_row.items()}}
                for row in rows]
        columns += [*missing, *per_row]
    processors = _column_processors(table, columns, dialect)
    pairs = [(name, _remember_last(process) if process else None) for name, process in zip(columns, processors)]
    params = [
        tuple(row[name] if process is None else process(row[name]) for name, process in pairs) for row in rows
    ]
    return columns, params


def insert_rows(
    connection: Connection,
    table: Table,
    rows: list[dict[str, Any]],
    *,
    suffix: str = "",
    returning: Optional[Sequence[str]] = None,
) -> "list[tuple] | int":
    """Insert ``rows`` (dicts with the same keys); ``suffix`` goes after VALUES (e.g. ON CONFLICT).

    Returns the number of rows inserted or, with ``returning`` (PostgreSQL only), the rows
    given back.
    """
    if not rows:
        return [] if returning else 0
    dialect = connection.dialect
    if returning and dialect.name != "postgresql":
        raise ValueError("insert_rows returns rows on PostgreSQL only")
    columns, params = _prepared(connection, table, rows)
    cursor = connection.connection.cursor()
    try:
        if dialect.name == "postgresql":
            return _insert_multirow(cursor, table.name, columns, params, suffix, returning)
        placeholder = "?" if dialect.paramstyle == "qmark" else "%s"
        cursor.executemany(
            f'INSERT INTO {table.name} ({", ".join(columns)}) '
            f'VALUES ({", ".join([placeholder] * len(columns))}) {suffix}',
            params,
        )
        return cursor.rowcount
    finally:
        cursor.close()


def insert_together(connection: Connection, parts: list[tuple[Table, list[dict[str, Any]]]]) -> None:
    """Insert rows into several tables. On PostgreSQL in one statement (the first tables'
    INSERTs as data-modifying WITH clauses), one round trip instead of one per table."""
    parts = [(table, rows) for table, rows in parts if rows]
    if connection.dialect.name != "postgresql" or len(parts) < 2:
        for table, rows in parts:
            insert_rows(connection, table, rows)
        return
    prepared = [(table.name, *_prepared(connection, table, rows)) for table, rows in parts]
    cursor = connection.connection.cursor()
    try:
        if sum(len(columns) * len(params) for _, columns, params in prepared) > _MAX_PARAMETERS:
            for name, columns, params in prepared:
                _insert_multirow(cursor, name, columns, params, "", None)
            return
        statements = [_multirow_sql(name, columns, len(params)) for name, columns, params in prepared]
        sql = "WITH " + ", ".join(f"w{i} AS ({statement})" for i, statement in enumerate(statements[:-1]))
        values = [value for _, _, params in prepared for row_values in params for value in row_values]
        cursor.execute(f"{sql} {statements[-1]}", values, prepare=False)
    finally:
        cursor.close()


# PostgreSQL takes at most 65,535 parameters per statement
_MAX_PARAMETERS = 60_000


def _multirow_sql(table: str, columns: list[str], rows: int) -> str:
    row = "(" + ", ".join(["%s"] * len(columns)) + ")"
    return f'INSERT INTO {table} ({", ".join(columns)}) VALUES {", ".join([row] * rows)}'


def _insert_multirow(cursor, table: str, columns: list[str], params: list[tuple], suffix: str,
                     returning: Optional[Sequence[str]]) -> "list[tuple] | int":
    """One ``INSERT ... VALUES (...), (...), ...`` per chunk: the server parses, plans and
    runs one statement for many rows instead of one per row."""
    tail = f" {suffix}" + (" RETURNING " + ", ".join(returning) if returning else "")
    per_chunk = max(1, _MAX_PARAMETERS // len(columns))
    found: list[tuple] = []
    inserted = 0
    for start in range(0, len(params), per_chunk):
        chunk = params[start : start + per_chunk]
        # not prepared: every batch size would be a statement of its own on the server
        cursor.execute(_multirow_sql(table, columns, len(chunk)) + tail,
                       [value for values in chunk for value in values], prepare=False)
        if returning:
            found.extend(cursor.fetchall())
        else:
            inserted += cursor.rowcount
    return found if returning else inserted
