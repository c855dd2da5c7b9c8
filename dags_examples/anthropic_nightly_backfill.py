"""Nightly backfill on Anthropic: each day's support tickets -> one Message Batch -> warehouse tables.

The same pipeline as ``openai_nightly_backfill`` (both are ``_nightly``), on Anthropic's Message
Batches API. The vendor comes from the type of the connection ``conn_id`` names: an ``anthropic``
connection (the type of ``apache-airflow-providers-anthropic``: password = API key, host = base
URL). For every logical date (daily, with catchup) the DAG:

1. selects that day's rows from ``support_tickets`` and builds Messages requests for
   ``/v1/messages`` (``custom_id`` = ticket id, which fits Anthropic's ``^[a-zA-Z0-9_-]{1,64}$``;
   the system prompt goes in ``system``; ``max_tokens``, which Messages requires, in the body; the
   customer tier is carried as metadata, never sent);
2. validates them against Anthropic's limits, budgets them with Anthropic's batch prices and
   sends them inline in the batch create (no file upload), then waits in the triggerer;
3. streams the results, reconciles them by ``custom_id`` and loads one row per ticket into
   ``anthropic_ticket_summaries`` plus a spend row into ``anthropic_ticket_batch_spend``;
   requests that failed transiently (``overloaded_error``, ``api_error``...) or expired are
   re-sent once as a follow-up batch;
4. rebuilds that day's row of ``anthropic_daily_ticket_stats``.

Runs offline against the local server (``--vendor anthropic``); against the real API only the
connection changes.
"""

from __future__ import annotations

from _nightly import nightly_backfill

from _example_config import ANTHROPIC_CHAT_MODEL, ANTHROPIC_CONN_ID

dag = nightly_backfill(
    "anthropic",
    conn_id=ANTHROPIC_CONN_ID,
    model=ANTHROPIC_CHAT_MODEL,
    doc_md=__doc__,
    # Requests for Messages: Anthropic's limits, the system prompt in ``system``.
    build={"vendor": "anthropic", "endpoint": "/v1/messages"},
)
