"""The table that ends a results task's log, and the breakdown a partial failure carries."""

from __future__ import annotations

from airflow_provider_batch.collect.state import ResultManifest
from airflow_provider_batch.core.status import ROW_STATUSES

__all__ = ["report_table"]

_STATUSES = ROW_STATUSES


def report_table(result: ResultManifest) -> str:
    """Counts by status, failures by error code with example ``custom_id``\\ s, tokens (prompt-cache
    tokens when any), spend, the warehouse connection and both tables, as an aligned plain-text
    table."""
    rows: list[tuple[str, str]] = []
    requests = result.requests or 1
    for status in _STATUSES:
        count = result.counts.get(status, 0)
        rows.append((status, f"{count:>10,}  {count / requests:6.1%}"))
    for bucket in result.failures:
        examples = ", ".join(bucket.examples)
        rows.append((f"  failed: {bucket.code}", f"{bucket.count:>10,}  e.g. {examples}"))
    rows += [
        ("requests", f"{result.requests:>10,}"),
        ("tokens", f"{result.prompt_tokens:,} prompt + {result.completion_tokens:,} completion = "
                   f"{result.total_tokens:,}"),
        *(
            [("prompt cache", f"{result.cache_creation_tokens:,} tokens written + "
                              f"{result.cache_read_tokens:,} read (priced into the spend)")]
            if result.cached else []
        ),
        ("spend", f"${result.cost_usd_batch:.6f} at batch price (${result.cost_usd_list:.6f} at list "
                  f"price, saved ${result.savings_usd:.6f})"),
        ("batches", f"{len(result.batch_ids)} + {len(result.follow_up_batch_ids)} follow-up"),
        ("warehouse", result.warehouse_conn_id),
        ("results table", result.results_table),
        ("summary table", result.summary_table),
    ]  # fmt: skip
    width = max(len(label) for label, _ in rows)
    rule = "-" * (width + 2 + max(len(value) for _, value in rows))
    body = "\n".join(f"{label:<{width}}  {value}" for label, value in rows)
    return f"{rule}\n{body}\n{rule}"
