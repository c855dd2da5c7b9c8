"""Operations behind both the Python handle and the ``/_control`` HTTP API."""

from __future__ import annotations

from typing import Any

from airflow_provider_batch.testing.server.config import ServerConfig
from airflow_provider_batch.testing.server.faults import FaultInjector, ScriptedFault
from airflow_provider_batch.testing.server.routing import route_templates
from airflow_provider_batch.testing.server.store import Store

__all__ = ["STARTUP_ONLY_FIELDS", "Controller", "FixedSettingError"]

_FIXED_FIELDS = frozenset({"data_dir"})

#: Settings that carry a secret or a path: only the process that starts the server sets them, the
#: ``/_control`` API refuses to change them (the in-process handle may still rotate ``api_key``).
STARTUP_ONLY_FIELDS = frozenset({"api_key", "access_log", "data_dir"})


class FixedSettingError(ValueError):
    """A control request tried to change a setting that is fixed once the server has started."""


class Controller:
    """Owns the store and the fault injector of one server.

    :param config: the starting configuration; it is changed in place by :meth:`configure`.
    """

    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self.store = Store(config)
        self.faults = FaultInjector(config)

    def configure(self, **fields: Any) -> ServerConfig:
        """Change configuration fields at run time (all validated before any is applied)."""
        fixed = _FIXED_FIELDS & fields.keys()
        if fixed:
            raise ValueError(f"cannot change {sorted(fixed)} at run time")
        merged = {**self.config.model_dump(), **fields}
        checked = ServerConfig.model_validate(merged)
        for name in fields:
            setattr(self.config, name, getattr(checked, name))
        return self.config

    def configure_remote(self, **fields: Any) -> ServerConfig:
        """:meth:`configure` for a ``/_control`` request: refuses :data:`STARTUP_ONLY_FIELDS`."""
        fixed = sorted(STARTUP_ONLY_FIELDS & fields.keys())
        if fixed:
            raise FixedSettingError(
                f"{', '.join(fixed)} {'is' if len(fixed) == 1 else 'are'} fixed once the server has started "
                f"and cannot be changed over the control API; restart the server with the new value"
            )
        return self.configure(**fields)

    def inject(self, route: str, kind: str, times: int = 1, **params: Any) -> None:
        """Script a fault for the next ``times`` requests on ``route`` (a template or ``"*"``)."""
        if route != "*" and route not in route_templates():
            raise ValueError(f"unknown route template {route!r}; expected '*' or one of {route_templates()}")
        self.faults.add(ScriptedFault(route=route, kind=kind, times=times, params=params))

    def set_faults(
        self,
        rate: float | None = None,
        kinds: list[str] | None = None,
        script: list[dict[str, Any]] | None = None,
    ) -> None:
        """Set the random fault rate and kinds, and append scripted faults."""
        update: dict[str, Any] = {}
        if rate is not None:
            update["fault_rate"] = rate
        if kinds is not None:
            update["fault_kinds"] = tuple(kinds)
        if update:
            self.configure(**update)
        for entry in script or []:
            entry = dict(entry)
            self.inject(entry.pop("route", "*"), entry.pop("kind"), int(entry.pop("times", 1)), **entry)

    def clear_faults(self) -> None:
        """Drop scripted faults and set the random fault rate to 0."""
        self.configure(fault_rate=0.0)
        self.faults.clear()

    def force_status(self, batch_id: str, status: str) -> dict[str, Any]:
        """End a batch now in ``status`` (``COMPLETED``, ``FAILED``, ``EXPIRED`` or ``CANCELLED``)."""
        record = self.store.get_batch(batch_id)
        if record is None:
            raise KeyError(batch_id)
        self.store.force_status(record, status)
        return record.summary()

    def reset(self) -> None:
        """Drop every file, batch, counter and scripted fault."""
        self.store.reset()
        self.faults.clear()
