"""Bulk rows into PostgreSQL with ``COPY ... FROM STDIN`` through asyncpg (a batch submit).

``asyncpg.Connection.copy_records_to_table`` streams the rows in PostgreSQL's binary COPY
format: no statement to parse and plan, no parameter per value to bind. It runs on the
connection of the caller's SQLAlchemy transaction, so the rows commit or roll back with it.
Values are given as SQLAlchemy would bind them; JSON columns are sent as their JSON text
(asyncpg's ``json``/``jsonb`` codecs take text; written by pydantic-core, several times faster
than the ``json`` module), ``None`` as SQL NULL (the columns are ``none_as_null``).

Source: PostgreSQL documentation, "COPY" (binary format); asyncpg, "Connection.
copy_records_to_table".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import JSON, Table
from sqlalchemy.ext.asyncio import AsyncConnection

from orchestrator.serialization import dumps


async def copy_rows(
    conn: AsyncConnection, tables: Sequence[tuple[Table, Sequence[Mapping[str, Any]]]]
) -> None:
    """COPY each table's rows (dicts of the same keys, as for ``table.insert()``), in order.

    Args:
        conn: A connection of an open transaction on an asyncpg engine.
        tables: ``(table, rows)`` pairs; a pair without rows is skipped.

    Raises:
        asyncpg.PostgresError: PostgreSQL refused a row (a duplicate id, a bad value); the
            caller's transaction is then rolled back.
    """
    raw = await conn.get_raw_connection()
    pg = raw.driver_connection
    assert pg is not None
    for table, rows in tables:
        if not rows:
            continue
        columns = list(rows[0])
        json_at = [i for i, c in enumerate(columns) if isinstance(table.c[c].type, JSON)]
        records = []
        for row in rows:
            record = [row[c] for c in columns]
            for i in json_at:
                value = record[i]
                if value is not None:
                    record[i] = dumps(value).decode()
            records.append(record)
        await pg.copy_records_to_table(
            table.name, records=records, columns=columns, schema_name=table.schema
        )


__all__ = ["copy_rows"]
