"""Moved to :mod:`airflow_provider_batch.warehouse.dialects`; these names still import from here."""

from airflow_provider_batch.warehouse.dialects.base import Column, Row, SqlDialect, chunks
from airflow_provider_batch.warehouse.dialects.generic import GenericDialect
from airflow_provider_batch.warehouse.dialects.sqlite import SqliteDialect

__all__ = ["Column", "GenericDialect", "Row", "SqlDialect", "SqliteDialect", "chunks"]
