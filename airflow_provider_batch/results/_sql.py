"""Moved to :mod:`airflow_provider_batch.warehouse.dialects._sql`; still imports from here."""

from airflow_provider_batch.warehouse.dialects._sql import Table, check_identifier, parse_table, to_utc

__all__ = ["Table", "check_identifier", "parse_table", "to_utc"]
