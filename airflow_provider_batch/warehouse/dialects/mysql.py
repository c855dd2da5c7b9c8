"""MySQL and MariaDB write strategy: multi-row ``INSERT … ON DUPLICATE KEY UPDATE`` in one
InnoDB transaction.

* Tables are InnoDB (transactional) with ``utf8mb4`` text. Every text column, keys included,
  has a binary, no-pad collation where the server has one (MariaDB ``utf8mb4_nopad_bin``, MySQL
  >= 8.0.17 ``utf8mb4_0900_bin``; ``utf8mb4_bin`` pads, so ``'a'`` equals ``'a '``), so text
  compares exactly as on SQLite and PostgreSQL (``'a'``, ``'A'`` and ``'a '`` are three keys, and
  an owner's ``dag_id`` matches only itself). Key widths must fit InnoDB's 3,072-byte index key
  (checked when the DDL is built).
* :meth:`MySqlDialect.migrate_columns` brings an existing table there: text columns of another
  collation (0.1.0's tables kept the database default, which ignores case, accents and trailing
  spaces) are converted, and 0.1.0's TEXT timestamps become ``DATETIME(6)`` in UTC.
* DDL commits implicitly in MySQL, so :meth:`MySqlDialect.prepare_ddl` cannot use a transaction:
  it takes a named lock (``GET_LOCK``) per table, held until the connection closes. Table
  creation therefore always finishes, and commits, before a load's transaction starts.
* A load is one transaction (``START TRANSACTION`` … the loader's ``COMMIT``), at READ COMMITTED
  so concurrent loads into one table do not lock each other's ranges, in strict mode so an
  over-long key fails the load instead of being truncated into another row's key.
* Rows go as multi-row ``INSERT`` statements, each kept well below the server's
  ``max_allowed_packet``; a key repeated within a load keeps its last row.

Works with mysql-connector-python and mysqlclient (both ``%s`` placeholders).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime, timezone
from typing import Any, ClassVar

from airflow_provider_batch.warehouse.dialects._sql import (
    Table,
    column_list,
    create_table_sql,
    ddl_lock_digest,
    insert_rows_sql,
    on_duplicate_key_sql,
)
from airflow_provider_batch.warehouse.dialects.base import Column, Row, SqlDialect, _cursor

__all__ = ["KEY_CHARS", "KEY_LIMIT_BYTES", "MySqlDialect", "byte_collation", "text_collations"]

#: InnoDB's largest index key (DYNAMIC/COMPRESSED rows: MySQL >= 5.7.7, MariaDB >= 10.2.2).
KEY_LIMIT_BYTES = 3072
#: Characters of each text key column (utf8mb4: 4 bytes each); others get ``DEFAULT_KEY_CHARS``.
KEY_CHARS = {"owner_key": 32, "batch_id": 255, "custom_id": 255}
DEFAULT_KEY_CHARS = 255
_UTF8MB4 = 4
#: Key bytes of the fixed-width kinds (BIGINT, DOUBLE, DATETIME(6)); text kinds count 4 per character.
_FIXED_BYTES = {"int": 8, "float": 8, "money": 8, "timestamp": 8}
#: Binary collations that do not pad: MariaDB >= 10.2, MySQL >= 8.0.17; else the PAD SPACE one.
_NO_PAD_BIN = ("utf8mb4_nopad_bin", "utf8mb4_0900_bin")
_DATETIME_TYPES = ("datetime", "timestamp")
_LOCK_WAIT_SECONDS = 600


class MySqlDialect(SqlDialect):
    """MySQL / MariaDB (InnoDB): one transaction of multi-row ``INSERT … ON DUPLICATE KEY UPDATE``."""

    name = "mysql"
    types: ClassVar[dict[str, str]] = {
        "key": "VARCHAR(255)",
        "text": "LONGTEXT",  # TEXT holds only 64 KiB; strict mode would refuse a longer answer
        "int": "BIGINT",
        "float": "DOUBLE",
        "money": "DOUBLE",
        "timestamp": "DATETIME(6)",  # UTC
        "bool": "BOOLEAN",
        "vector": "LONGTEXT",  # JSON text: a 3072-float vector is ~60 KiB, past TEXT's 64 KiB with room
    }

    def __init__(self) -> None:
        super().__init__("`{}`", "%s")
        self.key_collation = "utf8mb4_bin"
        self._max_chars = 1 << 20

    def timestamp(self, value: datetime) -> Any:
        # DATETIME has no zone; the loader hands over UTC, stored as such.
        return value.replace(tzinfo=None)

    def create_table_sql(self, table: Table, columns: Sequence[Column], key: Sequence[str]) -> str:
        typed = [(name, self.column_type(name, kind, name in key)) for name, kind in columns]
        self._check_key_width(columns, key)
        # The table's default collation is the key's: every text column compares bytes.
        options = f" ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE={self.key_collation}"
        return create_table_sql(table, typed, key, self.quote, options)

    def column_type(self, name: str, kind: str, in_key: bool = False) -> str:
        if not in_key or kind in _FIXED_BYTES:
            return self.types["text" if kind == "key" else kind]
        chars = KEY_CHARS.get(name, DEFAULT_KEY_CHARS)
        return f"VARCHAR({chars}) CHARACTER SET utf8mb4 COLLATE {self.key_collation}"

    @staticmethod
    def _check_key_width(columns: Sequence[Column], key: Sequence[str]) -> None:
        kinds = dict(columns)
        widths = {
            k: _FIXED_BYTES.get(kinds[k]) or _UTF8MB4 * KEY_CHARS.get(k, DEFAULT_KEY_CHARS) for k in key
        }
        if sum(widths.values()) > KEY_LIMIT_BYTES:
            raise ValueError(
                f"primary key {widths} needs {sum(widths.values())} bytes; InnoDB allows "
                f"{KEY_LIMIT_BYTES}: narrow the key columns in KEY_CHARS"
            )

    def prepare_ddl(self, conn: Any, tables: Sequence[Table]) -> None:
        """Take one named lock per table (fixed order), held until the connection closes, and
        pick the exact key collation this server has."""
        names = sorted({"apb_ddl_" + ddl_lock_digest(table).hex() for table in tables})
        with _cursor(conn) as cur:
            for name in names:
                cur.execute("SELECT GET_LOCK(%s, %s)", (name, _LOCK_WAIT_SECONDS))
                (got,) = cur.fetchone()
                if got != 1:
                    raise TimeoutError(f"could not take MySQL lock {name} within {_LOCK_WAIT_SECONDS} s")
            self.key_collation = byte_collation(cur)

    def table_exists(self, conn: Any, table: Table) -> bool | None:
        sql = (
            "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = COALESCE(%s, DATABASE())"
            " AND TABLE_NAME = %s"
        )
        return bool(self.query(conn, sql, (table.schema, table.name))[0][0])

    def primary_key(self, conn: Any, table: Table) -> tuple[str, ...] | None:
        rows = self.query(
            conn,
            "SELECT COLUMN_NAME FROM information_schema.KEY_COLUMN_USAGE WHERE TABLE_SCHEMA = "
            "COALESCE(%s, DATABASE()) AND TABLE_NAME = %s AND CONSTRAINT_NAME = 'PRIMARY' "
            "ORDER BY ORDINAL_POSITION",
            (table.schema, table.name),
        )
        return tuple(_text(r[0]) for r in rows)

    def replace_key(self, conn: Any, table: Table, columns: Sequence[Column], key: Sequence[str]) -> None:
        """One statement: MySQL commits it on its own, so it is atomic but not rolled back."""
        columns_sql = column_list(key, self.quote)
        self.execute(
            conn, f"ALTER TABLE {table.sql(self.quote)} DROP PRIMARY KEY, ADD PRIMARY KEY ({columns_sql})"
        )

    def digest_sql(self, conn: Any, columns: Sequence[str], length: int) -> str | None:
        parts = ", ".join(f"COALESCE(CAST({column} AS CHAR), '')" for column in columns)
        text = f"CONVERT(CONCAT_WS(CHAR(31 USING utf8mb4), {parts}) USING utf8mb4)"
        return f"LEFT(SHA2({text}, 256), {int(length)})"

    def text_conversion_sql(self, conn: Any, table: Table) -> str | None:
        """``CONVERT TO`` the server's byte collation when any text column of ``table`` has
        another one (tables created with the database default ignore case and accents)."""
        with _cursor(conn) as cur:
            collation = byte_collation(cur)
            if not set(text_collations(cur, table.schema, table.name).values()) - {collation}:
                return None
        return f"ALTER TABLE {table.sql(self.quote)} CONVERT TO CHARACTER SET utf8mb4 COLLATE {collation}"

    def migrate_columns(self, conn: Any, table: Table, columns: Sequence[Column]) -> list[str]:
        """0.1.0's TEXT timestamps become ``DATETIME(6)`` (UTC), then every text column of another
        collation is converted to :attr:`key_collation`. Each step is one atomic statement (or
        idempotent updates), so a migration cut short is finished by the next call."""
        changes = []
        with _cursor(conn) as cur:
            found = _column_types(cur, table)
            for name, kind in columns:
                data_type = found.get(name.lower(), ("datetime", None))[0]
                if kind == "timestamp" and data_type not in _DATETIME_TYPES:
                    _to_datetime(cur, table, name, self.quote)
                    found[name.lower()] = ("datetime", None)
                    changes.append(f"column {name}: {data_type} -> DATETIME(6) (UTC)")
            collations = {collation for _, collation in found.values() if collation is not None}
            if collations - {self.key_collation}:
                cur.execute(
                    f"ALTER TABLE {table.sql(self.quote)} "
                    f"CONVERT TO CHARACTER SET utf8mb4 COLLATE {self.key_collation}"
                )
                changes.append(f"text columns: {sorted(collations)} -> {self.key_collation}")
        return changes

    def begin(self, conn: Any) -> None:
        with _cursor(conn) as cur:
            cur.execute("SET SESSION sql_mode = CONCAT_WS(',', @@SESSION.sql_mode, 'STRICT_TRANS_TABLES')")
            # Session scope is allowed at any time; START TRANSACTION then ends anything implicit.
            cur.execute("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED")
            cur.execute("START TRANSACTION")
            cur.execute("SELECT @@max_allowed_packet")
            (packet,) = cur.fetchone()
        # A character takes at most 4 bytes, or 2 once escaped; keep each statement under a
        # quarter of the packet whatever the text.
        self._max_chars = max(int(packet) // 4 - 4096, 4096)

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
        tail = on_duplicate_key_sql(names, key, self.quote)
        written = 0
        with _cursor(conn) as cur:
            for chunk in sized_chunks(rows, chunk_size, self._max_chars):
                sql = insert_rows_sql(table, names, self.quote, self.placeholder, len(chunk)) + tail
                cur.execute(sql, [value for row in chunk for value in row])
                written += len(chunk)
        return written


def byte_collation(cur: Any) -> str:
    """The utf8mb4 collation of this server that compares bytes without padding, else ``utf8mb4_bin``."""
    found = ", ".join(["%s"] * len(_NO_PAD_BIN))
    cur.execute(
        f"SELECT COLLATION_NAME FROM information_schema.COLLATIONS WHERE COLLATION_NAME IN ({found})",
        _NO_PAD_BIN,
    )
    present = {_text(row[0]) for row in cur.fetchall()}
    return next((c for c in _NO_PAD_BIN if c in present), "utf8mb4_bin")


def text_collations(cur: Any, schema: str | None, name: str) -> dict[str, str]:
    """The collation of each text column of table ``schema.name`` (``None``: the current database)."""
    return {
        column: collation
        for column, (_, collation) in _column_types(cur, Table(name, schema)).items()
        if collation is not None
    }


def _column_types(cur: Any, table: Table) -> dict[str, tuple[str, str | None]]:
    """Lower-cased column name -> (data type, collation or ``None``)."""
    cur.execute(
        "SELECT COLUMN_NAME, DATA_TYPE, COLLATION_NAME FROM information_schema.COLUMNS "
        "WHERE TABLE_SCHEMA = COALESCE(%s, DATABASE()) AND TABLE_NAME = %s",
        (table.schema, table.name),
    )
    return {
        _text(name).lower(): (_text(data_type).lower(), None if collation is None else _text(collation))
        for name, data_type, collation in cur.fetchall()
    }


def _to_datetime(cur: Any, table: Table, column: str, quote: str) -> None:
    """Rewrite a text timestamp column's ISO 8601 values as UTC ``DATETIME`` text, then retype it."""
    name, col = table.sql(quote), quote.format(column)
    cur.execute(f"SELECT DISTINCT {col} FROM {name} WHERE {col} IS NOT NULL")
    for (raw,) in cur.fetchall():
        text = _text(raw)
        value = _utc_text(text, f"{name}.{col}")
        if value != text:
            cur.execute(f"UPDATE {name} SET {col} = %s WHERE {col} = %s", (value, text))
    cur.execute(f"ALTER TABLE {name} MODIFY {col} DATETIME(6)")


def _utc_text(text: str, where: str) -> str:
    """``2025-11-03T00:00:00+00:00`` (0.1.0 wrote ``isoformat()``) -> ``2025-11-03 00:00:00.000000``."""
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"{where} holds {text!r}, which is not an ISO 8601 timestamp, so it cannot become "
            f"DATETIME(6); correct it or set it to NULL (UPDATE … SET … = NULL WHERE … = {text!r}) "
            "and load again"
        ) from None
    if value.tzinfo is not None:
        value = value.astimezone(timezone.utc).replace(tzinfo=None)
    return value.strftime("%Y-%m-%d %H:%M:%S.%f")


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, (bytes, bytearray)) else str(value)


def sized_chunks(rows: Iterable[Row], max_rows: int, max_chars: int) -> Iterator[list[Row]]:
    """Chunks of at most ``max_rows`` rows and about ``max_chars`` characters of values (a row
    larger than that goes alone)."""
    chunk: list[Row] = []
    size = 0
    for row in rows:
        row_chars = sum([len(v) if v.__class__ is str else 24 for v in row]) + 4 * len(row)
        if chunk and (len(chunk) >= max_rows or size + row_chars > max_chars):
            yield chunk
            chunk, size = [], 0
        chunk.append(row)
        size += row_chars
    if chunk:
        yield chunk
