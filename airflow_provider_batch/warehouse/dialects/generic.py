"""Any other common.sql database: delete-then-insert with ``executemany``, in the driver's
transaction."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, ClassVar

from airflow_provider_batch.warehouse.dialects._sql import Table, delete_where_sql, insert_sql
from airflow_provider_batch.warehouse.dialects.base import Column, Row, SqlDialect, chunks

__all__ = ["GenericDialect"]


class GenericDialect(SqlDialect):
    """Any DB-API driver: per chunk, delete the chunk's keys, then ``executemany`` the inserts.

    Atomicity comes from the driver's transaction alone: :meth:`begin` turns autocommit off
    through the hook (PEP 249's default anyway) and the loader commits once at the end, so a load
    is all-or-nothing wherever the database's tables are transactional. On a database or driver
    that commits every statement regardless, nothing is atomic: a crash keeps the chunks written
    so far and can lose the old rows of the chunk whose keys were deleted but not yet re-inserted,
    until the load is re-run. DDL is not serialised (see :meth:`prepare_ddl`), the primary key is
    never introspected nor changed, and owner keys are computed here, not in SQL.

    :param quote: identifier format, e.g. ``'"{}"'`` (the hook's ``escape_word_format``).
    :param placeholder: the driver's parameter marker (the hook's ``placeholder``).
    :param hook: the Airflow hook, used only to turn autocommit off (if it supports autocommit).
    """

    name = "generic"
    # Key columns are VARCHAR: some databases cannot index TEXT without a prefix length.
    types: ClassVar[dict[str, str]] = {"key": "VARCHAR(255)", "text": "TEXT", "int": "BIGINT"}
    types |= {"float": "DOUBLE PRECISION"}
    types |= {"money": "DOUBLE PRECISION", "timestamp": "TEXT", "bool": "BOOLEAN"}
    #: An embedding: JSON text.
    types |= {"vector": "TEXT"}

    def __init__(self, quote: str = '"{}"', placeholder: str = "%s", hook: Any = None) -> None:
        super().__init__(quote, placeholder)
        self._hook = hook if getattr(hook, "supports_autocommit", False) else None

    @classmethod
    def for_hook(cls, hook: Any) -> GenericDialect:
        """Quoting and parameter marker as the common.sql hook declares them."""
        quote = getattr(hook, "escape_word_format", None) or '"{}"'
        return cls(quote=quote, placeholder=getattr(hook, "placeholder", None) or "%s", hook=hook)

    def begin(self, conn: Any) -> None:
        """Turn autocommit off through the hook where there is one, else a boolean
        ``conn.autocommit``."""
        if self._hook is not None:
            self._hook.set_autocommit(conn, False)
        else:
            super().begin(conn)

    def write(
        self,
        conn: Any,
        table: Table,
        columns: Sequence[Column],
        key: Sequence[str],
        rows: Iterable[Row],
        *,
        chunk_size: int,
        bulk: bool = True,
    ) -> int:
        names = [name for name, _ in columns]
        positions = [names.index(k) for k in key]
        delete = delete_where_sql(table, key, self.quote, self.placeholder)
        insert = insert_sql(table, names, self.quote, self.placeholder)
        written = 0
        cur = conn.cursor()
        try:
            for chunk in chunks(rows, chunk_size):
                # Last row wins for a key repeated inside the chunk (earlier chunks: the DELETE).
                latest = {tuple(row[p] for p in positions): row for row in chunk}
                cur.executemany(delete, list(latest))
                cur.executemany(insert, list(latest.values()))
                written += len(chunk)
        finally:
            cur.close()
        return written
