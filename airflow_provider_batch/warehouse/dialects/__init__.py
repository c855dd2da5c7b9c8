"""The registry of SQL dialects: which :class:`~.base.SqlDialect` serves a hook or a name.

:func:`dialect_for` is the only place that picks one, for the warehouse loader and the ledger
alike. Lookup order: an explicit name; a registered hook type (the hook's class or a base);
the hook's ``dialect_name`` (common.sql), else its connection type; else :class:`GenericDialect`
built from the hook's quoting and parameter marker. A new database is one module in this folder
and one :func:`register_dialect` call (here, or in the module that brings the dialect).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from airflow_provider_batch.warehouse.dialects.base import SqlDialect
from airflow_provider_batch.warehouse.dialects.generic import GenericDialect
from airflow_provider_batch.warehouse.dialects.mysql import MySqlDialect
from airflow_provider_batch.warehouse.dialects.postgres import PostgresDialect
from airflow_provider_batch.warehouse.dialects.snowflake import SnowflakeDialect
from airflow_provider_batch.warehouse.dialects.sqlite import SqliteDialect

__all__ = [
    "GenericDialect",
    "MySqlDialect",
    "PostgresDialect",
    "SnowflakeDialect",
    "SqlDialect",
    "SqliteDialect",
    "dialect_for",
    "register_dialect",
    "registered_dialects",
]

#: Builds a dialect for a hook (``None`` when there is none, e.g. the embedded ledger).
DialectFactory = Callable[[Any], SqlDialect]

_BY_NAME: dict[str, DialectFactory] = {}
_BY_HOOK_TYPE: dict[type, DialectFactory] = {}


def register_dialect(
    factory: DialectFactory, *, names: Iterable[str] = (), hook_types: Iterable[type] = ()
) -> None:
    """Serve ``names`` (``dialect_name`` or connection types, any case) and hooks of
    ``hook_types`` (and their subclasses) with ``factory(hook)``; a later registration wins."""
    for name in names:
        _BY_NAME[name.lower()] = factory
    for hook_type in hook_types:
        _BY_HOOK_TYPE[hook_type] = factory


def registered_dialects() -> dict[str, DialectFactory]:
    """Every registered name and its factory."""
    return dict(_BY_NAME)


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
register_dialect(lambda hook: SnowflakeDialect(), names=("snowflake",))
register_dialect(GenericDialect.for_hook, names=("generic",))
