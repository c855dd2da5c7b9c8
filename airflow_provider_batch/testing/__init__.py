"""Testing helpers: a local Together-compatible server and pytest fixtures for it.

Everything public in :mod:`airflow_provider_batch.testing.server` is re-exported here.
"""

from __future__ import annotations

from airflow_provider_batch.testing import server as _server
from airflow_provider_batch.testing.server import *  # noqa: F403

__all__ = list(_server.__all__)
