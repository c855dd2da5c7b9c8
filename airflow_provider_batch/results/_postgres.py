"""Moved to :mod:`airflow_provider_batch.warehouse.dialects.postgres`; still imports from here."""

from airflow_provider_batch.warehouse.dialects.postgres import PostgresDialect

__all__ = ["PostgresDialect"]
