"""Moved to :mod:`airflow_provider_batch.warehouse.dialects.mysql`; still imports from here."""

from airflow_provider_batch.warehouse.dialects.mysql import (
    KEY_CHARS,
    KEY_LIMIT_BYTES,
    MySqlDialect,
    byte_collation,
    sized_chunks,
    text_collations,
)

__all__ = [
    "KEY_CHARS",
    "KEY_LIMIT_BYTES",
    "MySqlDialect",
    "byte_collation",
    "sized_chunks",
    "text_collations",
]
