"""Where the "Together batches" page lives in the Airflow UI, and links into it.

The provider's Airflow plugin registers the page under :data:`PAGE_ROUTE`; Airflow serves plugin
pages at ``{base_url}/plugin/{route}``. No Airflow imports: the demo and the docs use this too.
"""

from __future__ import annotations

from urllib.parse import urlencode

__all__ = ["PAGE_ROUTE", "page_url"]

PAGE_ROUTE = "together-batches"


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
    filters = {"dag_id": dag_id, "run_id": run_id, "task_id": task_id, "map_index": map_index}
    query = urlencode({k: v for k, v in filters.items() if v is not None})
    url = f"{base_url.rstrip('/')}/plugin/{PAGE_ROUTE}"
    return f"{url}?{query}" if query else url
