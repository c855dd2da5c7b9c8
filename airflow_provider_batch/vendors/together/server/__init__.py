"""Together's Files and Batch API in the local test server (the default ``--vendor``).

Everything but the ``/v1`` routes is the shared server's (:mod:`airflow_provider_batch.testing.server`):
the store, the processing clock, the ``/_control`` plane and fault injection. Together adds its routes:
the 302 upload flow (``POST /v1/files`` -> ``PUT`` -> ``preprocess``), one-shot and multipart
uploads (:mod:`.routes_files`), and ``/v1/batches`` with its ``{job, warning}`` create answer
(:mod:`.routes_batches`).

::

    python -m airflow_provider_batch.testing.server --vendor together --api-key k --port 0
"""

from __future__ import annotations

from airflow_provider_batch.vendors.together.server.app import build_app

__all__ = ["build_app"]
