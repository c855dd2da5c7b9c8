"""Nightly backfill: each day's support tickets -> one Together batch -> warehouse tables -> daily stats.

For every logical date (daily, with catchup) the DAG:

1. selects that day's rows from ``support_tickets`` and builds chat-completion requests
   (``custom_id`` = ticket id; the customer tier is carried as metadata, never sent);
2. validates, budgets and submits them as a batch, then waits in the triggerer (no worker slot);
3. downloads the output and error files, reconciles them by ``custom_id`` and upserts one row per
   ticket into ``ticket_summaries`` plus a spend row into ``ticket_batch_spend``; requests that
   failed transiently are re-sent once as a follow-up batch (with its own spend row);
4. rebuilds that day's row of ``daily_ticket_stats`` from the loaded results.

The pipeline is ``_nightly``'s, which the OpenAI and Anthropic examples share: the vendor comes
from the type of the Airflow connection ``conn_id`` names (here ``together``: password = API key, host =
base URL). Runs offline against the local server; against the real API only the connection changes.
"""

from __future__ import annotations

from _nightly import nightly_backfill

from _example_config import CHAT_MODEL, TOGETHER_CONN_ID

dag = nightly_backfill(
    "together",
    conn_id=TOGETHER_CONN_ID,
    model=CHAT_MODEL,
    doc_md=__doc__,
    # The first example: its tables keep their names without the vendor's prefix.
    table_prefix="",
)
