"""OpenAI's Files and Batch API in the local test server (``--vendor openai``).

Everything but the ``/v1`` routes is the shared server's: the store, the processing clock, the
``/_control`` plane and fault injection (``ServerConfig`` timings, ``inject``, ``force_status`` with
the shared status names ``COMPLETED``/``FAILED``/``EXPIRED``/``CANCELLED``). What OpenAI adds:

* routes: ``POST /v1/files`` (multipart, ``purpose=batch``), ``GET``/``DELETE /v1/files/{id}``,
  ``GET /v1/files/{id}/content``; ``POST /v1/batches`` (``input_file_id``, ``endpoint``,
  ``completion_window="24h"``, ``metadata``), ``GET /v1/batches/{id}``, ``POST .../cancel``,
  ``GET /v1/batches?limit=&after=`` (newest first, ``has_more``, ``last_id``);
* statuses ``validating``, ``in_progress``, ``finalizing``, ``completed``, ``failed``, ``expired``,
  ``cancelling``, ``cancelled``, with ``request_counts`` that follow the clock and ``usage``;
* validation of the whole input file (:mod:`.validation`), per-request 400 lines, and partial
  output on expiry or cancel (:mod:`.answers`, :mod:`.processing`);
* OpenAI's error bodies for 401, 404 and injected faults (:mod:`.app`).

::

    python -m airflow_provider_batch.testing.server --vendor openai --api-key k --port 0
    LocalTogetherServer(ServerConfig(api_key="k"), vendor="openai")
"""

from __future__ import annotations

from airflow_provider_batch.vendors.openai.server.app import build_app

__all__ = ["build_app"]
