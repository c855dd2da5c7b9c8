"""The Airflow plugin that puts the "LLM batches" page in the UI.

Installed with the package: the ``airflow.plugins`` entry point names :class:`TogetherBatchesPlugin`
(the provider metadata does not list it too, or Airflow would load it twice). The api-server
mounts the app of :mod:`.app` under ``/together-batches``; an external view in the Browse menu
shows its page inside the UI at ``/plugin/together-batches``. Airflow lists that menu entry only
to users who may list plugins (FAB: "can read on Plugins"); everyone else who may read a DAG opens
the page at ``/together-batches/page`` (the task's "LLM batches" link goes there).
"""

from __future__ import annotations

from typing import Any

from airflow.plugins_manager import AirflowPlugin

from airflow_provider_batch.ui.app import base_path, create_app
from airflow_provider_batch.ui.urls import APP_PREFIX, PAGE_ROUTE

__all__ = ["APP_PREFIX", "TogetherBatchesPlugin"]


class TogetherBatchesPlugin(AirflowPlugin):
    """Registers the app and the Browse-menu entry of the "Together batches" page."""

    name = "together_batches"
    fastapi_apps: list[Any] = [  # noqa: RUF012 (Airflow reads these class attributes)
        {"name": "together-batches", "app": create_app(), "url_prefix": APP_PREFIX}
    ]
    external_views: list[Any] = [  # noqa: RUF012
        {
            "name": "LLM batches",
            "href": f"{base_path()}{APP_PREFIX}/page",
            "destination": "nav",
            "category": "browse",
            "url_route": PAGE_ROUTE,
        }
    ]
