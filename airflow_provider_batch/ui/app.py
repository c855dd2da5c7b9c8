"""The FastAPI app the api-server mounts for the "LLM batches" page.

Every route needs an Airflow login (Airflow's own ``get_user`` dependency: the UI's session
cookie or a bearer token), and shows only batches of DAGs the user may read, as the configured
auth manager decides. Everything shown comes from the submission ledger: the status and progress
the tasks recorded when they last saw each batch, with that time. A page load never calls a
vendor's API (the triggers already poll every running batch); connections are read only for
each vendor's console link, and their keys stay on the server.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, time, timedelta, timezone
from time import monotonic
from typing import Annotated, Any, Literal
from urllib.parse import urlparse

from airflow.api_fastapi.core_api.security import get_user
from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, Field

from airflow_provider_batch.client.models import BatchStatus
from airflow_provider_batch.hooks.together import TogetherBatchHook
from airflow_provider_batch.ledger.location import LEDGER_SECTION, get_ledger, ledger_location
from airflow_provider_batch.ledger.monitoring import BatchQuery, DailySpend, Monitoring, SubmissionRecord
from airflow_provider_batch.ui.html import AirflowLinks, render_login_required, render_page
from airflow_provider_batch.ui.summary import WindowSummary, summarize
from airflow_provider_batch.ui.view import BatchView, build_view
from airflow_provider_batch.vendors import VENDORS, vendor_named

__all__ = ["BatchPage", "base_path", "create_app"]

log = logging.getLogger(__name__)

#: The signed-in Airflow user (session cookie or bearer token); 401 without one.
_User = Annotated[Any, Depends(get_user)]
_STATUSES = [s.value for s in BatchStatus if s is not BatchStatus.UNKNOWN]


class BatchPage(BaseModel):
    """The JSON answer: one page of batches, newest first, and where the next page starts."""

    batches: list[BatchView]
    next_offset: int | None
    spend: list[DailySpend]
    summary: WindowSummary = Field(description="every batch these filters and dates match, all pages")


class _Filters(BaseModel):
    dag_id: str | None = None
    run_id: str | None = None
    task_id: str | None = None
    map_index: int | None = None
    status: str | None = None
    vendor: str | None = None
    since: date | None = None
    until: date | None = None
    offset: int = 0
    limit: int = 50
    spend_days: int = 14
    spend_by: Literal["logical", "loaded"] = "logical"
    sort: Literal["date", "spend", "failures"] = "date"

    def as_form(self) -> dict[str, str]:
        names = (
            "dag_id",
            "run_id",
            "task_id",
            "map_index",
            "status",
            "vendor",
            "since",
            "until",
            "spend_by",
            "sort",
        )
        values = {name: getattr(self, name) for name in names}
        return {k: str(v) for k, v in values.items() if v is not None}


def _filters(
    dag_id: Annotated[str | None, Query()] = None,
    run_id: Annotated[str | None, Query()] = None,
    task_id: Annotated[str | None, Query()] = None,
    map_index: Annotated[str | None, Query()] = None,
    status: Annotated[str | None, Query()] = None,
    vendor: Annotated[str | None, Query()] = None,
    since: Annotated[str | None, Query()] = None,
    until: Annotated[str | None, Query()] = None,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    spend_days: Annotated[int, Query(ge=1, le=366)] = 14,
    spend_by: Annotated[Literal["logical", "loaded"], Query()] = "logical",
    sort: Annotated[Literal["date", "spend", "failures"], Query()] = "date",
) -> _Filters:
    # An empty form field means "any"; a bad value is a 422 naming the field.
    given = {
        "dag_id": dag_id, "run_id": run_id, "task_id": task_id, "map_index": map_index,
        "status": status, "vendor": vendor, "since": since, "until": until,
    }  # fmt: skip
    cleaned = {k: v.strip() for k, v in given.items() if v is not None and v.strip()}
    try:
        return _Filters(
            **cleaned, offset=offset, limit=limit, spend_days=spend_days, spend_by=spend_by, sort=sort
        )
    except ValueError as exc:
        raise HTTPException(status_code=422, detail=str(exc)) from exc


def _readable_dags(user: Any, ledger: Monitoring) -> frozenset[str]:
    """The DAGs with batches that this user may read, as the auth manager says."""
    from airflow.api_fastapi.app import get_auth_manager

    return frozenset(
        get_auth_manager().filter_authorized_dag_ids(dag_ids=ledger.dag_ids(), user=user, method="GET")
    )


def base_path() -> str:
    """The path of Airflow's ``[api] base_url`` (``""`` at the root), for links into the UI."""
    from airflow.configuration import conf

    base_url = conf.get("api", "base_url", fallback="/") or "/"
    return (urlparse(base_url).path if "://" in base_url else base_url).rstrip("/")


class _Consoles:
    """Each batch's console link on its vendor's site, from its connection's base URL and
    ``console_url_template`` (read once per connection and request; no API call)."""

    def __init__(self) -> None:
        self._conns: dict[str, tuple[str, str | None] | None] = {}

    def _conn(self, conn_id: str) -> tuple[str, str | None] | None:
        if conn_id not in self._conns:
            try:
                hook = TogetherBatchHook(conn_id)
                conn = hook.connection()
                self._conns[conn_id] = (hook.base_url_of(conn), hook.extras(conn).get("console_url_template"))
            except Exception as exc:
                log.warning("connection %r is not usable here: %s", conn_id, type(exc).__name__)
                self._conns[conn_id] = None
        return self._conns[conn_id]

    def url(self, view: BatchView) -> str | None:
        found = self._conn(view.together_conn_id)
        if found is None or view.vendor not in VENDORS:
            return None
        return vendor_named(view.vendor).console_url(found[0], view.batch_id, found[1])


def _query(filters: _Filters, readable: frozenset[str]) -> BatchQuery:
    until = (
        datetime.combine(filters.until + timedelta(days=1), time(), tzinfo=timezone.utc)
        if filters.until
        else None
    )
    return BatchQuery(
        dag_ids=readable,
        dag_id=filters.dag_id,
        run_id=filters.run_id,
        task_id=filters.task_id,
        map_index=filters.map_index,
        status=filters.status,
        vendor=filters.vendor,
        since=datetime.combine(filters.since, time(), tzinfo=timezone.utc) if filters.since else None,
        until=until,
        # Follow-up batches are shown under their parent, unless asked for by task or status.
        top_level=filters.task_id is None and filters.status is None,
        sort=filters.sort,
        limit=filters.limit + 1,
        offset=filters.offset,
    )


def _views(ledger: Monitoring, records: list[SubmissionRecord], readable: frozenset[str]) -> list[BatchView]:
    """The page's rows: each batch, then its follow-up batches (every round) under it."""
    children = ledger.follow_ups_of([str(r.batch_id) for r in records], dag_ids=readable)
    shown = {r.batch_id for r in records}
    ordered: list[SubmissionRecord] = []
    for record in records:
        ordered.append(record)
        ordered.extend(c for c in children.get(str(record.batch_id), []) if c.batch_id not in shown)
    outcomes = ledger.outcomes_for([str(r.batch_id) for r in ordered])
    by_batch: dict[str, list[Any]] = {}
    for outcome in outcomes:
        by_batch.setdefault(outcome.batch_id, []).append(outcome)
    now = datetime.now(tz=timezone.utc)
    views = []
    for record in ordered:
        view = build_view(record, by_batch.get(str(record.batch_id), []), None, now)
        view.follow_ups = [str(c.batch_id) for c in children.get(view.batch_id, [])]
        views.append(view)
    return views


#: Seconds a page keeps the ledger object (its connection factory, and its tables known to exist).
LEDGER_TTL = 300.0
_ledgers: dict[tuple[Any, ...], tuple[float, Monitoring]] = {}


def _ledger() -> Monitoring:
    """The ledger, kept for :data:`LEDGER_TTL` so that a page load does not check its tables and
    columns again (a dozen round trips to a remote database)."""
    from airflow.configuration import conf

    tables = tuple(conf.get(LEDGER_SECTION, k, fallback=None) for k in ("ledger_table", "outcome_table"))
    key = (ledger_location(), tables)
    now = monotonic()
    kept = _ledgers.get(key)
    if kept is None or now - kept[0] > LEDGER_TTL:
        kept = _ledgers[key] = (now, get_ledger(for_writing=False))
    return kept[1]


def _gather(filters: _Filters, user: Any) -> tuple[BatchPage, dict[str, str]]:
    ledger = _ledger()
    readable = _readable_dags(user, ledger)
    records = ledger.find_batches(_query(filters, readable))
    more = len(records) > filters.limit
    views = _views(ledger, records[: filters.limit], readable)
    consoles = _Consoles()
    links = {v.batch_id: url for v in views if (url := consoles.url(v))}
    now = datetime.now(tz=timezone.utc)
    spend_since = datetime.combine(
        now.date() - timedelta(days=filters.spend_days - 1), time(), tzinfo=timezone.utc
    )
    # The spend follows the page's filters (not its date range: the spend has its own window).
    wanted = _query(filters, readable).model_copy(update={"since": None, "until": None})
    spend = ledger.daily_spend(since=spend_since, dag_ids=readable, query=wanted, by=filters.spend_by)
    summary = summarize(*ledger.summary_rows(_query(filters, readable)))
    page = BatchPage(
        batches=views,
        next_offset=filters.offset + filters.limit if more else None,
        spend=spend,
        summary=summary,
    )
    return page, links


def create_app() -> FastAPI:
    """The app the plugin mounts (``/together-batches`` on the api-server)."""
    app = FastAPI(title="Together batches", docs_url=None, redoc_url=None, openapi_url=None)

    @app.exception_handler(HTTPException)
    async def _refused(request: Request, exc: HTTPException) -> Response:
        if exc.status_code in (401, 403) and request.url.path.rstrip("/").endswith("/page"):
            return HTMLResponse(render_login_required(f"{base_path()}/"), status_code=exc.status_code)
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code)

    @app.get("/page", response_class=HTMLResponse)
    def page(filters: Annotated[_Filters, Depends(_filters)], user: _User) -> HTMLResponse:
        data, consoles = _gather(filters, user)
        html = render_page(
            data.batches,
            links=AirflowLinks(base_path()),
            consoles=consoles,
            filters=filters.as_form(),
            statuses=_STATUSES,
            vendors={name: vendor_named(name).display_name for name in VENDORS},
            spend=data.spend,
            summary=data.summary,
            spend_days=filters.spend_days,
            spend_by=filters.spend_by,
            next_offset=data.next_offset,
        )
        return HTMLResponse(html, headers={"Cache-Control": "no-store"})

    @app.get("/api/batches", response_model=BatchPage)
    def batches(filters: Annotated[_Filters, Depends(_filters)], user: _User) -> BatchPage:
        return _gather(filters, user)[0]

    return app
