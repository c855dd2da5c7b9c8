"""Nightly backfill on OpenAI: each day's support tickets -> one OpenAI batch -> warehouse tables.

The same pipeline as ``together_nightly_backfill``, written with the neutral class names (in
``_nightly``, which the Together and Anthropic examples share). The vendor comes from the type of the
connection ``conn_id`` names: an ``openai`` connection (the type of
``apache-airflow-providers-openai``: password = API key, host = base URL) sends the batch to
OpenAI's Batch API, or to any server that speaks it (Azure OpenAI's v1 API, Groq, a self-hosted
one) when its host is set. For every logical date (daily, with catchup) the DAG:

1. selects that day's rows from ``support_tickets`` and builds chat-completion requests
   (``custom_id`` = ticket id; the customer tier is carried as metadata, never sent);
2. validates them against OpenAI's limits, budgets them with OpenAI's batch prices and submits
   them as a batch (the run's identity in its metadata), then waits in the triggerer;
3. downloads the output and error files, reconciles them by ``custom_id`` and loads one row per
   ticket into ``openai_ticket_summaries`` plus a spend row into ``openai_ticket_batch_spend``;
   requests that failed transiently are re-sent once as a follow-up batch;
4. rebuilds that day's row of ``openai_daily_ticket_stats``.

Runs offline against the local server (``--vendor openai``); against the real API only the
connection changes.
"""

from __future__ import annotations

from _nightly import nightly_backfill

from _example_config import OPENAI_CHAT_MODEL, OPENAI_CONN_ID

dag = nightly_backfill("openai", conn_id=OPENAI_CONN_ID, model=OPENAI_CHAT_MODEL, doc_md=__doc__)
