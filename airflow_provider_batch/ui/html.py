"""The markup of the "LLM batches" page: a summary, batch cards, filters and the spend view.

Server-rendered HTML with inline CSS and SVG: nothing to build, no script but a reload while a
batch runs, so it looks the same in every Airflow 3 release. Every value is escaped.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from html import escape
from urllib.parse import quote, urlencode

from airflow_provider_batch.ledger.monitoring import DailySpend, FailureBucket
from airflow_provider_batch.ui.summary import WindowSummary
from airflow_provider_batch.ui.view import BatchView

__all__ = ["AirflowLinks", "render_page", "render_login_required"]

#: Seconds between reloads of a page that shows a running batch.
REFRESH_SECONDS = 30

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:16px;color:#1f2933;
  background:#fff;max-width:1200px}
h1{font-size:20px;margin:0 0 12px}h2{font-size:16px;margin:20px 0 8px}
a{color:#0b63c5;text-decoration:none}a:hover{text-decoration:underline}
form.filters{display:flex;flex-wrap:wrap;gap:8px;align-items:end;margin-bottom:12px}
form.filters label{display:flex;flex-direction:column;font-size:12px;color:#52606d}
form.filters input,form.filters select{font:inherit;padding:3px 6px;min-width:110px}
.card{border:1px solid #d9e2ec;border-radius:6px;padding:10px 12px;margin:0 0 10px}
.head{display:flex;flex-wrap:wrap;gap:6px 14px;align-items:baseline}
.who{font-weight:600;overflow-wrap:anywhere}.muted{color:#52606d;font-size:12px}
.badge{white-space:nowrap;border-radius:10px;padding:1px 8px;font-size:12px;font-weight:600;color:#fff;
  background:#7b8794}
.st-COMPLETED{background:#2f9e44}.st-FAILED,.st-EXPIRED{background:#c92a2a}
.st-IN_PROGRESS,.st-VALIDATING{background:#7048e8}.st-CANCELLED,.st-CANCELING{background:#e67700}
.bar{height:10px;background:#e4e7eb;border-radius:5px;overflow:hidden;margin:8px 0 4px}
.bar{display:flex}.bar>span{display:block;height:100%;background:#7048e8}
.bar>span.ok{background:#2f9e44}.bar>span.failed{background:#c92a2a}.bar>span.missing{background:#adb5bd}
.st-ALLFAILED{background:#c92a2a}.st-SOMEFAILED{background:#e67700}
.card.follow-up{margin-left:32px;border-left:4px solid #7048e8}
.summary{display:flex;flex-wrap:wrap;gap:6px 24px;margin:0 0 12px;padding:8px 12px;background:#f0f4f8;
  border-radius:6px}.summary b{display:block;font-size:12px;color:#52606d}
.summary p{flex-basis:100%;margin:0;font-size:12px}
.figs{display:grid;grid-template-columns:repeat(auto-fill,minmax(200px,1fr));gap:4px 16px;margin:6px 0}
.figs div{overflow-wrap:anywhere}.figs b{font-weight:600;color:#52606d;font-size:12px;display:block}
ul.fail{margin:4px 0 0 0;padding-left:18px}ul.fail li{overflow-wrap:anywhere}
code{font-size:12px;background:#f0f4f8;padding:0 3px;border-radius:3px;overflow-wrap:anywhere}
table.spend{border-collapse:collapse;font-size:13px;margin-top:8px}
table.spend th,table.spend td{border-bottom:1px solid #e4e7eb;padding:3px 10px;text-align:right}
table.spend th:first-child,table.spend td:first-child,
table.spend th:nth-child(2),table.spend td:nth-child(2),
table.spend th:nth-child(3),table.spend td:nth-child(3){text-align:left}
.legend{display:flex;flex-wrap:wrap;gap:4px 16px;font-size:12px;margin:4px 0 0 72px}
.legend i{display:inline-block;width:10px;height:10px;margin-right:4px}
table.spend tr.total th{border-top:2px solid #9aa5b1}
table.batches{border-collapse:collapse;font-size:13px;width:100%;margin:0 0 12px}
table.batches th,table.batches td{border-bottom:1px solid #e4e7eb;padding:3px 8px;text-align:left;
  vertical-align:top;overflow-wrap:anywhere}
table.batches tr.group th{background:#f0f4f8;font-weight:600}
table.batches th,table.batches td:nth-child(n+7){white-space:nowrap}
tr.st-row-ALLFAILED td,tr.st-row-FAILED td,tr.st-row-EXPIRED td{background:#fff5f5}
tr.st-row-SOMEFAILED td{background:#fff9db}
.bad{color:#c92a2a;font-weight:600}.pager{margin:8px 0}
"""


# Inside the UI the page is an iframe of /plugin/together-batches; filters given in that address
# (the submit task's "Together batches" link) are passed on to the page.
_PASS_FILTERS = (
    "<script>try{if(window.top!==window&&!location.search&&window.top.location.search)"
    "{location.replace(location.pathname+window.top.location.search)}}catch(e){}</script>"
)


class AirflowLinks:
    """Links to Airflow's own pages under its base path (``""`` at the root)."""

    def __init__(self, base_path: str) -> None:
        self.base = base_path.rstrip("/")

    def dag(self, dag_id: str) -> str:
        return f"{self.base}/dags/{quote(dag_id, safe='')}"

    def run(self, dag_id: str, run_id: str) -> str:
        return f"{self.dag(dag_id)}/runs/{quote(run_id, safe='')}"

    def task(self, dag_id: str, run_id: str, task_id: str, map_index: int) -> str:
        url = f"{self.run(dag_id, run_id)}/tasks/{quote(task_id, safe='')}"
        return f"{url}/mapped/{map_index}" if map_index >= 0 else url


def _duration(value: timedelta | None) -> str:
    if value is None:
        return "-"
    minutes = int(value.total_seconds() // 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    return f"{minutes} min" if minutes else f"{int(value.total_seconds())} s"


def _usd(value: float | None, unknown: str = "-") -> str:
    if value is None:
        return unknown
    return f"${value:,.6f}" if 0 < abs(value) < 0.01 else f"${value:,.2f}"


def _spend(view: BatchView) -> str:
    """A loaded batch's spend, "unknown" when its model had no price; "-" before any load."""
    return _usd(view.cost_usd_batch, "unknown" if view.succeeded is not None else "-")


def _a(href: str, text: str, *, top: bool = True) -> str:
    target = ' target="_top"' if top else ' target="_blank" rel="noopener noreferrer"'
    return f'<a href="{escape(href)}"{target}>{escape(text)}</a>'


def _answered(bucket: FailureBucket) -> str:
    if not bucket.answered:
        return ""
    by = ", ".join(f"<code>{escape(b)}</code>" for b in bucket.answered_by)
    return f' <span class="answered">{bucket.answered:,} answered by follow-up {by}</span>'


def _failures(view: BatchView) -> str:
    if not view.failures:
        return ""
    items = "".join(
        f"<li><code>{escape(f.code)}</code>: {f.count} "
        f"(e.g. {', '.join(f'<code>{escape(x)}</code>' for x in f.examples) or '-'}){_answered(f)}</li>"
        for f in view.failures
    )
    return (
        f'<div class="failures"><b class="bad">Failures by error code</b><ul class="fail">{items}</ul></div>'
    )


def _figures(view: BatchView, console: str | None) -> str:
    window = "-" if view.window_used is None else f"{view.window_used:.1%} of 24 h"
    figs = {
        "Requests": "-" if view.requests is None else f"{view.requests:,}",
        "Elapsed": f"{_duration(view.elapsed)} ({window})",
        "ETA": _duration(view.eta) if view.running else "done",
        "Estimated cost": _usd(view.estimated_cost_usd, "unknown"),
        "Actual cost": _spend(view),
        "Savings vs list price": (
            ("unknown" if view.succeeded is not None else "-")
            if view.savings_usd is None
            else f"{_usd(view.savings_usd)} (list {_usd(view.cost_usd_list)})"
        ),
        "Succeeded / failed": (
            "-" if view.succeeded is None else f"{view.succeeded:,} / {view.failed or 0:,}"
        ),
        **_cache_figure(view.cache_creation_tokens, view.cache_read_tokens),
        "Model": escape(view.model or "-"),
        "Batch": f"<code>{escape(view.batch_id)}</code>"
        + (f" {_a(console, f'{view.vendor_name} console', top=False)}" if console else ""),
        "Vendor": escape(view.vendor_name),
        "Warehouse tables": "<br>".join(escape(t) for t in view.tables) or "not loaded yet",
    }
    cells = "".join(
        f'<div class="fig-{escape(k.lower().split()[0])}"><b>{escape(k)}</b>{v}</div>'
        for k, v in figs.items()
    )
    return f'<div class="figs">{cells}</div>'


def _cache_tokens(written: int | None, read: int | None) -> str:
    return f"{written or 0:,} written / {read or 0:,} read"


def _cache_figure(written: int | None, read: int | None) -> dict[str, str]:
    """The "Prompt cache" figure of a card, only when the batch wrote or read cached tokens."""
    if not (written or read):
        return {}
    return {"Prompt cache": f"{_cache_tokens(written, read)} tokens (priced into the cost)"}


def _ago(when: datetime | None, now: datetime) -> str:
    if when is None:
        return "never seen by a task"
    seconds = max(int((now - when).total_seconds()), 0)
    if seconds < 90:
        return f"as of {seconds} s ago"
    return f"as of {_duration(timedelta(seconds=seconds))} ago"


def _tone(view: BatchView) -> str:
    """The badge colour: the status's, but red when no request succeeded, orange when some failed."""
    if view.running or not view.failed:
        return view.status
    return "ALLFAILED" if not view.succeeded else "SOMEFAILED"


def _bar(view: BatchView) -> str:
    progress = view.progress or 0.0
    aria = f'role="progressbar" aria-valuenow="{progress:.1f}" aria-valuemin="0" aria-valuemax="100"'
    total = view.requests or 0
    if view.running or view.succeeded is None or not total:
        return f'<div class="bar" {aria}><span style="width:{min(progress, 100.0):.1f}%"></span></div>'
    parts = (("ok", view.succeeded), ("failed", view.failed or 0), ("missing", view.missing or 0))
    spans = "".join(
        f'<span class="{cls}" style="width:{100.0 * n / total:.1f}%" title="{n:,} {cls}"></span>'
        for cls, n in parts
        if n
    )
    return f'<div class="bar" {aria}>{spans}</div>'


def _card(view: BatchView, links: AirflowLinks, console: str | None, now: datetime) -> str:
    where = " · ".join(
        (
            _a(links.dag(view.dag_id), view.dag_id),
            _a(links.run(view.dag_id, view.run_id), view.run_id),
            _a(links.task(view.dag_id, view.run_id, view.task_id, view.map_index), view.task_id),
        )
    )
    mapped = f" map index {view.map_index}" if view.map_index >= 0 else ""
    part = f"part {view.part_index}" + (f", generation {view.generation}" if view.generation > 1 else "")
    if view.parent_batch_id:
        part = f"follow-up of {view.parent_batch_id}, {part}"
    shown = "unknown" if view.progress is None else f"{view.progress:.1f}%"
    seen = _ago(view.status_as_of, now) if view.running else ""
    error = f'<div class="bad">{escape(view.error)}</div>' if view.error else ""
    follow = " follow-up" if view.parent_batch_id else ""
    return (
        f'<div class="card{follow}" id="{escape(_anchor(view))}" data-batch="{escape(view.batch_id)}" '
        f'data-dag="{escape(view.dag_id)}" '
        f'data-status="{escape(view.status)}">'
        f'<div class="head"><span class="who">{where}</span>'
        f'<span class="muted">{escape(mapped)} {escape(part)}</span>'
        f'<span class="badge st-{escape(_tone(view))}">{escape(view.status)}</span>'
        f'<span class="muted seen">{escape(seen)}</span></div>'
        f"{_bar(view)}"
        f'<div class="muted progress">Progress {shown}</div>'
        f"{error}{_figures(view, console)}{_failures(view)}</div>"
    )


def _anchor(view: BatchView) -> str:
    return f"batch-{view.batch_id}"


def _group(view: BatchView) -> str:
    if view.logical_date is None:
        return "No logical date (manual runs)"
    return f"Runs of {view.logical_date.date().isoformat()} (logical date)"


def _row(view: BatchView) -> str:
    who = f"{view.dag_id} · {view.task_id}" + (f" [{view.map_index}]" if view.map_index >= 0 else "")
    answered = "-" if view.succeeded is None else f"{view.succeeded:,} / {view.failed or 0:,}"
    bad = ' class="bad"' if view.failed else ""
    indent = "↳ " if view.parent_batch_id else ""
    return (
        f'<tr class="row st-row-{escape(_tone(view))}" data-batch="{escape(view.batch_id)}">'
        f'<td><span class="badge st-{escape(_tone(view))}">{escape(view.status)}</span></td>'
        f"<td>{escape(indent + who)}</td><td>{escape(view.run_id)}</td>"
        f'<td>{escape(view.vendor_name)}<br><span class="muted">{escape(_short_model(view.model or "-"))}'
        f"</span></td><td>{'-' if view.requests is None else f'{view.requests:,}'}</td>"
        f"<td{bad}>{answered}</td><td>{_spend(view)}</td>"
        f"<td>{_usd(view.estimated_cost_usd, 'unknown')}</td>"
        f'<td><a href="#{escape(_anchor(view))}">details</a></td></tr>'
    )


def _table(views: list[BatchView], filters: Mapping[str, str]) -> str:
    """One compact row per batch, grouped by its run's logical date, a status colour per row."""
    if not views:
        return ""
    rows, group = [], None
    for view in views:
        if _group(view) != group and not view.parent_batch_id:
            group = _group(view)
            rows.append(f'<tr class="group"><th colspan="9">{escape(group)}</th></tr>')
        rows.append(_row(view))
    sorts = []
    for value, label in (("date", "date"), ("spend", "spend"), ("failures", "failures")):
        if filters.get("sort", "date") == value:
            sorts.append(f"<b>{label}</b>")
        else:
            query = urlencode({**{k: v for k, v in filters.items() if v}, "sort": value})
            sorts.append(f'<a href="?{escape(query)}">{label}</a>')
    head = "".join(f"<th>{h}</th>" for h in ("Status", "DAG · task", "Run", "Vendor / model", "Requests",
                                             "Succeeded / failed", "Spend", "Estimate", ""))  # fmt: skip
    return (
        f'<p class="switch">Sort by {" · ".join(sorts)}</p>'
        f'<table class="batches"><tr>{head}</tr>{"".join(rows)}</table>'
    )


def _summary(summary: WindowSummary, filters: Mapping[str, str]) -> str:
    """The whole chosen window at a glance (every page, follow-ups included)."""
    window = " to ".join(filters[k] for k in ("since", "until") if filters.get(k)) or "all dates"
    failed = f"{summary.failed:,}" + (f" ({summary.not_loaded:,} not loaded)" if summary.not_loaded else "")
    figs = {
        "Batches running": f"{summary.running:,}",
        "Finished": f"{summary.finished:,}",
        "Failed": failed,
        "Requests answered": f"{summary.requests_answered:,}",
        "Requests failed": f"{summary.requests_failed:,}",
        "Spend (loaded)": _usd(summary.cost_usd_batch),
        "Requests still waiting": f"{summary.requests_waiting:,}",
    }
    if summary.cache_creation_tokens or summary.cache_read_tokens:
        figs["Prompt-cache tokens"] = _cache_tokens(summary.cache_creation_tokens, summary.cache_read_tokens)
    cells = "".join(f"<div><b>{escape(k)}</b>{escape(v)}</div>" for k, v in figs.items())
    title = f"{summary.batches:,} batches, {window}, these filters (all pages, follow-ups included)"
    return f'<div class="summary" id="summary"><p class="muted">{escape(title)}</p>{cells}</div>'


def _select(name: str, label: str, chosen: str | None, options: Mapping[str, str]) -> str:
    items = "".join(
        f'<option value="{escape(value)}"{" selected" if chosen == value else ""}>{escape(text)}</option>'
        for value, text in {"": "any", **options}.items()
    )
    return f'<label>{label}<select name="{name}">{items}</select></label>'


def _filters(filters: Mapping[str, str], statuses: list[str], vendors: Mapping[str, str]) -> str:
    def field(name: str, label: str, kind: str = "text") -> str:
        value = escape(filters.get(name, ""))
        return f'<label>{label}<input type="{kind}" name="{name}" value="{value}"></label>'

    return (
        '<form class="filters" method="get">'
        + field("dag_id", "DAG")
        + field("run_id", "Run")
        + field("task_id", "Task")
        + field("map_index", "Map index", "number")
        + _select("status", "Status", filters.get("status"), {s: s for s in statuses})
        + _select("vendor", "Vendor", filters.get("vendor"), vendors)
        + field("since", "From (UTC date)", "date")
        + field("until", "To (UTC date)", "date")
        + '<button type="submit">Filter</button> <a href="?">clear</a></form>'
    )


_PALETTE = ["#7048e8", "#1c7ed6", "#2f9e44", "#e67700", "#c2255c", "#0c8599", "#5c940d", "#862e9c"]


def _series(d: DailySpend, vendors: Mapping[str, str]) -> str:
    return f"{vendors.get(d.vendor, d.vendor)} · {d.model}"


def _ticks(top: float) -> list[float]:
    """Four round steps from 0 to at least ``top`` for the y-axis."""
    raw = top / 4 or 1.0
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    return [step * i for i in range(5)]


def _spend_chart(days: list[DailySpend], vendors: Mapping[str, str]) -> str:
    """Stacked bars of batch spend per day, one colour per vendor and model, savings as a light
    cap; a labelled y-axis and an HTML legend that wraps instead of overlapping."""
    if not days:
        return '<p class="muted">No batch has been loaded in this period.</p>'
    series = sorted({_series(d, vendors) for d in days})
    dates = sorted({d.day for d in days})
    totals = {day: sum(d.cost_usd_batch + d.savings_usd for d in days if d.day == day) for day in dates}
    ticks = _ticks(max(totals.values()))
    top, left, height, bar, step = ticks[-1] or 1.0, 72, 180, 30, 44
    width = left + step * len(dates) + 10
    parts = [f'<svg class="spend-chart" width="{width}" height="{height + 30}" role="img" '
             'aria-label="spend per day by vendor and model">']  # fmt: skip
    for tick in ticks:
        y = 10 + height * (1 - tick / top)
        parts.append(
            f'<line x1="{left - 4}" y1="{y:.1f}" x2="{width}" y2="{y:.1f}" stroke="#e4e7eb"/>'
            f'<text class="tick" x="{left - 6}" y="{y + 3:.1f}" font-size="10" text-anchor="end">'
            f"{escape(_usd(tick))}</text>"
        )
    for i, day in enumerate(dates):
        x, y = left + step * i + 4, 10.0 + height
        for d in (d for d in days if d.day == day):
            colour = _PALETTE[series.index(_series(d, vendors)) % len(_PALETTE)]
            for value, opacity in ((d.cost_usd_batch, 1.0), (d.savings_usd, 0.3)):
                h = height * value / top
                y -= h
                parts.append(
                    f'<rect x="{x}" y="{y:.1f}" width="{bar}" height="{h:.1f}" fill="{colour}" '
                    f'fill-opacity="{opacity}"><title>{escape(_series(d, vendors))} {day}: {_usd(value)}'
                    "</title></rect>"
                )
        parts.append(f'<text x="{x + bar / 2}" y="{height + 24}" font-size="10" text-anchor="middle">'
                     f"{escape(day[5:])}</text>")  # fmt: skip
    parts.append("</svg>")
    legend = "".join(
        f'<span><i style="background:{_PALETTE[i % len(_PALETTE)]}"></i>{escape(name)}</span>'
        for i, name in enumerate(series)
    )
    return "".join(parts) + f'<div class="legend">{legend}</div>'


def _short_model(model: str, limit: int = 28) -> str:
    """A short label: the model's name without its organisation, cut with an ellipsis."""
    name = model.rsplit("/", 1)[-1]
    return name if len(name) <= limit else name[: limit - 1] + "\u2026"


def _spend_row(cells: list[str], failed: int, requests: int, tag: str = "td") -> str:
    """One row; the failed cell is red from a 5 % failure rate; ``th`` cells make the total row."""
    rate = failed / requests if requests else 0.0
    cls = ' class="bad"' if rate >= 0.05 else ""
    head = "".join(f"<{tag}>{c}</{tag}>" for c in cells[:5])
    tail = "".join(f"<{tag}>{c}</{tag}>" for c in cells[5:])
    row = ' class="total"' if tag == "th" else ""
    return f"<tr{row}>{head}<{tag}{cls}>{failed:,} ({rate:.1%})</{tag}>{tail}</tr>"


def _spend_cells(d: DailySpend, vendors: Mapping[str, str], cached: bool) -> list[str]:
    cells = [
        escape(d.day), escape(vendors.get(d.vendor, d.vendor)), escape(d.model), str(d.batches),
        f"{d.requests:,}", _usd(d.cost_usd_batch), _usd(d.savings_usd),
    ]  # fmt: skip
    if not cached:
        return cells
    used = d.cache_creation_tokens or d.cache_read_tokens
    return [*cells, _cache_tokens(d.cache_creation_tokens, d.cache_read_tokens) if used else "-"]


def _spend_table(days: list[DailySpend], vendors: Mapping[str, str]) -> str:
    """Spend per day, vendor and model; a prompt-cache column when any of them wrote or read one."""
    if not days:
        return ""
    cached = any(d.cache_creation_tokens or d.cache_read_tokens for d in days)
    rows = [_spend_row(_spend_cells(d, vendors, cached), d.failed, d.requests) for d in days]
    requests, failed = sum(d.requests for d in days), sum(d.failed for d in days)
    totals = ["Total", "", "", str(sum(d.batches for d in days)), f"{requests:,}",
              _usd(sum(d.cost_usd_batch for d in days)), _usd(sum(d.savings_usd for d in days))]  # fmt: skip
    if cached:
        totals.append(
            _cache_tokens(sum(d.cache_creation_tokens for d in days), sum(d.cache_read_tokens for d in days))
        )
    cache_head = "<th>Prompt-cache tokens</th>" if cached else ""
    return (
        '<table class="spend"><tr><th>Day</th><th>Vendor</th><th>Model</th><th>Batches</th>'
        f"<th>Requests</th><th>Failed (rate)</th><th>Spend</th><th>Saved vs list</th>{cache_head}</tr>"
        + "".join(rows)
        + _spend_row(totals, failed, requests, "th")
        + "</table>"
    )


def _spend_switch(filters: Mapping[str, str], by: str) -> str:
    links = []
    for value, label in (("logical", "by logical date"), ("loaded", "by load date")):
        if value == by:
            links.append(f"<b>{label}</b>")
        else:
            query = urlencode({**{k: v for k, v in filters.items() if v}, "spend_by": value})
            links.append(f'<a href="?{escape(query)}#spend">{label}</a>')
    return f'<p class="switch" id="spend-switch">Spend {" · ".join(links)}</p>'


def render_page(
    views: list[BatchView],
    *,
    links: AirflowLinks,
    consoles: Mapping[str, str],
    filters: Mapping[str, str],
    statuses: list[str],
    vendors: Mapping[str, str] | None = None,
    spend: list[DailySpend],
    summary: WindowSummary | None = None,
    spend_days: int,
    next_offset: int | None,
    spend_by: str = "logical",
) -> str:
    """The whole page; reloads itself every :data:`REFRESH_SECONDS` while a batch runs (a reload
    reads the ledger only: no vendor API call)."""
    refresh = (
        f'<meta http-equiv="refresh" content="{REFRESH_SECONDS}">' if any(v.running for v in views) else ""
    )
    now = datetime.now(tz=timezone.utc)
    glance = _summary(summary, filters) if summary else ""
    cards = "".join(_card(v, links, consoles.get(v.batch_id), now) for v in views) or (
        '<p class="muted">No batch matches these filters (or none of their DAGs is visible to you).</p>'
    )
    pager = ""
    if next_offset is not None:
        query = urlencode({**{k: v for k, v in filters.items() if v}, "offset": next_offset})
        pager = f'<div class="pager"><a href="?{escape(query)}">Older batches</a></div>'
    return (
        '<!doctype html><html><head><meta charset="utf-8"><title>LLM batches</title>'
        f'<meta name="viewport" content="width=device-width">{refresh}{_PASS_FILTERS}'
        f"<style>{_CSS}</style></head><body>"
        "<h1>LLM batches</h1>"
        f"{_filters(filters, statuses, vendors or {})}{glance}"
        f'<section id="table">{_table(views, filters)}</section>'
        f'<section id="batches"><h2>Details</h2>{cards}{pager}</section>'
        f'<section id="spend"><h2>Spend and failures per day, vendor and model (last {spend_days} days, '
        f"these filters)</h2>{_spend_switch(filters, spend_by)}"
        f"{_spend_chart(spend, vendors or {})}{_spend_table(spend, vendors or {})}</section></body></html>"
    )


def render_login_required(login_url: str) -> str:
    return (
        '<!doctype html><html><head><meta charset="utf-8"><title>LLM batches</title></head><body>'
        f"<p>Log in to Airflow to see LLM batches: {_a(login_url, 'log in')}.</p></body></html>"
    )
