"""Operator extra links: the batch on its vendor's console, and the provider's "LLM batches" page.

Airflow names an extra link once per class, not per task, so the neutral operators' buttons have
neutral names ("Batch console", "LLM batches"); the page names each batch's vendor on its console
link ("OpenAI console"). The ``Together*`` operators keep their "Together batch(es)" buttons.
"""

from __future__ import annotations

import logging
from typing import Any

from airflow.sdk import BaseOperatorLink

from airflow_provider_batch._compat import BaseXCom
from airflow_provider_batch.events import XCOM_BATCH_ID
from airflow_provider_batch.hooks.together import TogetherBatchHook
from airflow_provider_batch.ui.urls import page_url

__all__ = ["BatchConsoleLink", "LLMBatchesPageLink", "TogetherBatchLink", "TogetherBatchesPageLink"]

log = logging.getLogger(__name__)


class TogetherBatchLink(BaseOperatorLink):
    """ "Together batch" button: the page of the (first) batch of the task instance.

    The URL comes from the connection's ``console_url_template`` extra (``{batch_id}``
    placeholder), else from the base URL (``.../v1`` -> ``.../batches/<id>``). The batch id is
    pushed to XCom right after create, so the link already works while the task is deferred.
    """

    name = "Together batch"

    def get_link(self, operator: Any, *, ti_key: Any) -> str:
        batch_id = BaseXCom.get_value(ti_key=ti_key, key=XCOM_BATCH_ID)
        if not batch_id:
            return ""
        conn_id = getattr(operator, "together_conn_id", TogetherBatchHook.default_conn_name)
        return TogetherBatchHook(conn_id).console_url(str(batch_id))


class TogetherBatchesPageLink(BaseOperatorLink):
    """ "Together batches" button: the provider's "LLM batches" page, filtered to this task
    instance, so every part and generation of its input is one click away (not only the first).

    The page's address is the app's own, under the Airflow option ``[api] base_url``: anyone who
    may read the DAG opens it (Airflow's in-UI ``/plugin/...`` address also needs permission to
    list plugins, which FAB's Viewer and User roles lack).
    """

    name = "Together batches"

    def get_link(self, operator: Any, *, ti_key: Any) -> str:
        from airflow.configuration import conf

        base_url = conf.get("api", "base_url", fallback="/") or "/"
        map_index = getattr(ti_key, "map_index", -1)
        return page_url(
            base_url,
            dag_id=ti_key.dag_id,
            run_id=ti_key.run_id,
            task_id=ti_key.task_id,
            map_index=-1 if map_index is None else int(map_index),
            app=True,
        )


class BatchConsoleLink(TogetherBatchLink):
    """ "Batch console" button of the neutral operators: the (first) batch on the console of the
    connection's vendor (Together, OpenAI, or the ``console_url_template`` extra)."""

    name = "Batch console"


class LLMBatchesPageLink(TogetherBatchesPageLink):
    """ "LLM batches" button of the neutral operators: the provider's page, filtered to this task
    instance (see :class:`TogetherBatchesPageLink`)."""

    name = "LLM batches"
