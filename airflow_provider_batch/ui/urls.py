"""Where the "LLM batches" page lives, and links into it.

The api-server mounts the page's app at ``{base_url}/together-batches`` (:func:`page_url` with ``app=True``):
anyone logged in can open it and sees the batches of the DAGs they may read, exactly as the JSON
API answers. Airflow also shows it inside its UI at ``{base_url}/plugin/{PAGE_ROUTE}``
(:func:`page_url`), but only to users who may list plugins (FAB: "can read on Plugins", which the
Viewer and User roles lack), so links point at the app's own address. No Airflow imports: the demo
and the docs use this too.
"""

from __future__ import annotations

from urllib.parse import urlencode

__all__ = ["APP_PREFIX", "PAGE_ROUTE", "page_url"]

PAGE_ROUTE = "together-batches"
#: Where the api-server mounts the page's app.
APP_PREFIX = "/together-batches"


def _query(filters: dict[str, object]) -> str:
    return urlencode({k: v for k, v in filters.items() if v is not None})


def page_url(
    base_url: str,
    *,
    dag_id: str | None = None,
    run_id: str | None = None,
    task_id: str | None = None,
    map_index: int | None = None,
    app: bool = False,
) -> str:
    """The page's URL under an Airflow base URL, filtered to what is given (``map_index`` -1
    means an unmapped task and is kept, so the filter is exact).

    :param app: the app's own address (``/together-batches/page``), which everyone who may read a
        DAG opens, instead of Airflow's in-UI ``/plugin/...`` one.
    """
    query = _query({"dag_id": dag_id, "run_id": run_id, "task_id": task_id, "map_index": map_index})
    root = base_url.rstrip("/")
    url = f"{root}{APP_PREFIX}/page" if app else f"{root}/plugin/{PAGE_ROUTE}"
    return f"{url}?{query}" if query else url
