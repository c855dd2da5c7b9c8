"""Where the "LLM batches" page lives, and links into it.

The api-server mounts the page's app at ``{base_url}/together-batches`` (:func:`app_page_url`):
anyone logged in can open it and sees the batches of the DAGs they may read, exactly as the JSON
API answers. Airflow also shows it inside its UI at ``{base_url}/plugin/{PAGE_ROUTE}``
(:func:`page_url`), but only to users who may list plugins (FAB: "can read on Plugins", which the
Viewer and User roles lack), so links point at the app's own address. No Airflow imports: the demo
and the docs use this too.
"""

from __future__ import annotations

from urllib.parse import urlencode

__all__ = ["APP_PREFIX", "PAGE_ROUTE", "app_page_url", "page_url"]

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
) -> str:
    """The page's URL under an Airflow base URL, filtered to what is given (``map_index`` -1
    means an unmapped task and is kept, so the filter is exact)."""
    query = _query({"dag_id": dag_id, "run_id": run_id, "task_id": task_id, "map_index": map_index})
    url = f"{base_url.rstrip('/')}/plugin/{PAGE_ROUTE}"
    return f"{url}?{query}" if query else url


def app_page_url(
    base_url: str,
    *,
    dag_id: str | None = None,
    run_id: str | None = None,
    task_id: str | None = None,
    map_index: int | None = None,
) -> str:
    """The page at the app's own address (what the JSON API's readers may open), filtered to what
    is given, like :func:`page_url`."""
    query = _query({"dag_id": dag_id, "run_id": run_id, "task_id": task_id, "map_index": map_index})
    url = f"{base_url.rstrip('/')}{APP_PREFIX}/page"
    return f"{url}?{query}" if query else url
