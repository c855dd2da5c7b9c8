"""``/_control`` routes and the HTML status pages of batches.

The middleware lets a ``/_control`` request through only with the API key and, unless it is a
``GET``, an ``application/json`` body; it never faults them. The status pages need no key (a
browser following the "Together batch" link cannot send one), so they show only a batch's status
fields: never the key, a path or any file content.
"""

from __future__ import annotations

import html
import json
import time
from typing import Any

from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from airflow_provider_batch.testing.server.control import Controller, FixedSettingError

__all__ = ["control_routes"]


def _controller(request: Request) -> Controller:
    return request.app.state.controller  # type: ignore[no-any-return]


async def _json(request: Request) -> dict[str, Any]:
    raw = await request.body()
    data = json.loads(raw) if raw.strip() else {}
    if not isinstance(data, dict):
        raise ValueError("expected a JSON object")
    return data


def _bad(exc: Exception) -> JSONResponse:
    return JSONResponse({"error": str(exc)}, status_code=400)


async def stats(request: Request) -> Response:
    return JSONResponse(_controller(request).store.stats())


async def reset(request: Request) -> Response:
    await run_in_threadpool(_controller(request).reset)
    return JSONResponse({"reset": True})


async def config(request: Request) -> Response:
    try:
        updated = _controller(request).configure_remote(**await _json(request))
    except FixedSettingError as exc:
        return JSONResponse({"error": str(exc)}, status_code=403)
    except (ValueError, ValidationError, TypeError) as exc:
        return _bad(exc)
    return JSONResponse(updated.model_dump(mode="json", exclude={"api_key"}))


async def faults(request: Request) -> Response:
    try:
        body = await _json(request)
        _controller(request).set_faults(body.get("rate"), body.get("kinds"), body.get("script"))
    except (ValueError, ValidationError, TypeError, KeyError) as exc:
        return _bad(exc)
    return JSONResponse({"scripted": len(_controller(request).faults.script)})


async def force_status(request: Request) -> Response:
    try:
        status = str((await _json(request))["status"])
        summary = await run_in_threadpool(
            _controller(request).force_status, request.path_params["id"], status
        )
    except KeyError as exc:
        return JSONResponse({"error": f"unknown batch or missing field: {exc}"}, status_code=404)
    except (ValueError, TimeoutError) as exc:
        return _bad(exc)
    return JSONResponse(summary)


#: The status pages load nothing, run no script and cannot be framed by another site.
_PAGE_HEADERS = {
    "content-security-policy": "default-src 'none'; frame-ancestors 'none'",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
}


def _page(body: str, status_code: int = 200) -> HTMLResponse:
    return HTMLResponse(body, status_code=status_code, headers=_PAGE_HEADERS)


_PAGE = """<!doctype html><html><head><meta charset="utf-8"><meta http-equiv="refresh" content="5">
<title>Batch {id} (local simulated server)</title></head><body>
<h1>Batch {id}</h1><p>Local Together-compatible server (simulated results).</p>
<p><progress max="100" value="{progress}"></progress> {progress} %</p><table>{rows}</table></body></html>"""


async def status_page(request: Request) -> Response:
    """``GET /batches/{id}``: a human view of one batch, for the provider's extra link."""
    record = _controller(request).store.get_batch(request.path_params["id"])
    if record is None:
        return _page("<!doctype html><title>Not found</title><h1>Batch not found</h1>", 404)
    job = record.to_json(time.time())
    rows = "".join(
        f"<tr><th>{html.escape(key)}</th><td>{html.escape('' if value is None else str(value))}</td></tr>"
        for key, value in job.items()
    )
    return _page(_PAGE.format(id=html.escape(record.id), progress=job["progress"], rows=rows))


async def index_page(request: Request) -> Response:
    """``GET /batches``: every batch, newest first, linking to its status page."""
    now = time.time()
    rows = "".join(
        f'<tr><td><a href="/batches/{html.escape(b.id)}">{html.escape(b.id)}</a></td><td>{b.status}</td>'
        f"<td>{b.to_json(now)['progress']}</td></tr>"
        for b in _controller(request).store.list_batches()
    )
    return _page(
        '<!doctype html><html><head><meta charset="utf-8"><title>Batches (local simulated server)</title>'
        f"</head><body><h1>Batches</h1><table><tr><th>id</th><th>status</th><th>progress</th></tr>{rows}"
        "</table></body></html>"
    )


def control_routes() -> list[Route]:
    return [
        Route("/_control/stats", stats, methods=["GET"]),
        Route("/_control/reset", reset, methods=["POST"]),
        Route("/_control/config", config, methods=["POST"]),
        Route("/_control/faults", faults, methods=["POST"]),
        Route("/_control/batches/{id}/status", force_status, methods=["POST"]),
        Route("/batches", index_page, methods=["GET"]),
        Route("/batches/{id}", status_page, methods=["GET"]),
    ]
