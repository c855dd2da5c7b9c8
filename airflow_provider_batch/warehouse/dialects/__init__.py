"""The registry of SQL dialects: which :class:`~.base.SqlDialect` serves a hook or a name.

:func:`dialect_for` is the only place that picks one, for the warehouse loader and the ledger
alike. Lookup order: an explicit name; a registered hook type (the hook's class or a base);
the hook's ``dialect_name`` (common.sql), else its connection type; else :class:`GenericDialect`
built from the hook's quoting and parameter marker. A new database is one module in this folder
and one :func:`register_dialect` call (here, or in the module that brings the dialect).

A connection type whose Airflow provider is not installed (BigQuery's ``google_cloud_platform``:
the Google provider is too heavy to require) can bring its own hook: :func:`register_dialect`'s
``hook_factory``; :func:`warehouse_hook` is how the results task and the preflight get a hook.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from airflow_provider_batch.warehouse.dialects import bigquery
from airflow_provider_batch.warehouse.dialects.base import SqlDialect
from airflow_provider_batch.warehouse.dialects.bigquery import BigQueryDialect
from airflow_provider_batch.warehouse.dialects.duckdb import DuckDBDialect
from airflow_provider_batch.warehouse.dialects.generic import GenericDialect
from airflow_provider_batch.warehouse.dialects.mysql import MySqlDialect
from airflow_provider_batch.warehouse.dialects.postgres import PostgresDialect
from airflow_provider_batch.warehouse.dialects.snowflake import SnowflakeDialect
from airflow_provider_batch.warehouse.dialects.sqlite import SqliteDialect

__all__ = [
    "BigQueryDialect",
    "DuckDBDialect",
    "GenericDialect",
    "MySqlDialect",
    "PostgresDialect",
    "SnowflakeDialect",
    "SqlDialect",
    "SqliteDialect",
    "dialect_for",
    "register_dialect",
    "registered_dialects",
    "warehouse_hook",
]

#: Builds a dialect for a hook (``None`` when there is none, e.g. the embedded ledger).
DialectFactory = Callable[[Any], SqlDialect]

_BY_NAME: dict[str, DialectFactory] = {}
_BY_HOOK_TYPE: dict[type, DialectFactory] = {}
#: Connection type -> the hook for an Airflow connection of that type (instead of its provider's).
_HOOKS: dict[str, Callable[[Any], Any]] = {}


def register_dialect(
    factory: DialectFactory,
    *,
    names: Iterable[str] = (),
    hook_types: Iterable[type] = (),
    hook_factory: Callable[[Any], Any] | None = None,
) -> None:
    """Serve ``names`` (``dialect_name`` or connection types, any case) and hooks of
    ``hook_types`` (and their subclasses) with ``factory(hook)``; a later registration wins.
    ``hook_factory(connection)``: the hook for connections of those types."""
    for name in names:
        if hook_factory is not None:
            _HOOKS[name.lower()] = hook_factory
        _BY_NAME[name.lower()] = factory
    for hook_type in hook_types:
        _BY_HOOK_TYPE[hook_type] = factory


def registered_dialects() -> dict[str, DialectFactory]:
    """Every registered name and its factory."""
    return dict(_BY_NAME)


def warehouse_hook(connection: Any) -> Any:
    """The hook of an Airflow connection: the registered one for its type, else
    ``connection.get_hook()`` (its provider's)."""
    factory = _HOOKS.get(str(connection.conn_type or "").lower())
    return factory(connection) if factory is not None else connection.get_hook()


def dialect_for(hook: Any = None, *, name: str | None = None) -> SqlDialect:
    """A new dialect object for ``hook`` (or ``name``); see the module docstring for the order."""
    if name:
        return _BY_NAME.get(name.lower(), GenericDialect.for_hook)(hook)
    for klass in type(hook).__mro__:
        if klass in _BY_HOOK_TYPE:
            return _BY_HOOK_TYPE[klass](hook)
    for found in (getattr(hook, "dialect_name", None), getattr(hook, "conn_type", None)):
        if isinstance(found, str) and found.lower() in _BY_NAME:
            return _BY_NAME[found.lower()](hook)
    return GenericDialect.for_hook(hook)


register_dialect(lambda hook: SqliteDialect(), names=("sqlite",))
register_dialect(lambda hook: PostgresDialect(), names=("postgresql", "postgres"))
register_dialect(lambda hook: MySqlDialect(), names=("mysql", "mariadb"))
register_dialect(lambda hook: DuckDBDialect(), names=("duckdb",))
register_dialect(lambda hook: SnowflakeDialect(), names=("snowflake",))
register_dialect(GenericDialect.for_hook, names=("generic",))
register_dialect(BigQueryDialect.for_hook, names=("bigquery", bigquery.BIGQUERY_CONN_TYPE),
                 hook_factory=bigquery.hook_for_connection)  # fmt: skip
