"""A local server that speaks Together AI's Batch + Files wire protocol, for tests and offline CI.

The protocol, status life cycle, limits, error shapes and faults follow the real API; the model
answers are simulated (see :mod:`~airflow_provider_batch.testing.server.responder`). Nothing here
imports Airflow.

Command line (prints ``READY http://HOST:PORT/v1`` once serving)::

    python -m airflow_provider_batch.testing.server --host 127.0.0.1 --port 0 --api-key KEY

In-process::

    with LocalTogetherServer(ServerConfig(api_key="k", processing_seconds=0.3)) as server:
        server.base_url      # http://127.0.0.1:PORT/v1  (provider client, v1 SDK)
        server.root_url      # http://127.0.0.1:PORT     (together 3.x SDK)
        server.inject("GET /v1/batches/{id}", "429", retry_after=2)
        server.force_status(batch_id, "EXPIRED")

Out of process, the same controls are under ``/_control/``: ``GET stats``, ``POST reset``,
``POST config``, ``POST faults``, ``POST batches/{id}/status``. They require
``Authorization: Bearer <api key>`` and ``application/json`` bodies, and cannot change ``api_key``,
``access_log`` or ``data_dir``; :class:`ControlClient` sends both. A human view of a batch is at
``GET /batches/{id}`` (no key needed; status fields only).

Conformance: every chat completion the server writes validates against the ``together`` SDK's
``ChatCompletion`` (``prompt`` included, as the spec's ``ChatCompletionResponse`` requires), and every
audio answer against its ``AudioTranscriptionJsonResponse`` / ``AudioTranslationJsonResponse``.
``POST /v1/files/upload`` answers 400 with the spec's ``ErrorData`` body (``param`` names the field)
when ``file``, ``file_name`` or ``purpose`` is missing, when ``purpose`` is not one of the spec's
``FilePurpose`` values, or when ``file_type`` is not ``csv``, ``jsonl`` or ``parquet``.

Deliberate deviations from the published spec (``togethercomputer/openapi``, ``openapi.yaml`` 2.0.0).
Each follows what the live API was seen to do; tests pin each one. "Reference" is the project's wire
reference, ``together-batch-api.md``.

* **An empty batch list is** ``null``, not ``[]``. The spec's ``GET /batches`` answers an array of
  ``BatchJob``. Backed by: reference §2 and §11 item 3 (observed against a live key, any-llm PR #1273;
  the v1 SDK's ``resources/batch.py`` guards with ``or []``). The ``together`` 3.1.1 SDK's
  ``batches.list()`` then returns ``None`` (its ``types/batch_list_response.py`` is a bare
  ``List[BatchJob]``), so callers need ``or []``. ``ServerConfig(list_null_when_empty=False)``
  answers ``[]``. Pinned by ``tests/server/test_lists.py::test_empty_batch_list`` and
  ``tests/server/test_batches.py::test_list_is_null_when_empty_then_a_bare_array_newest_first``.
* **An unusable input file gets** ``200`` **with** ``{"job": null, "warning": "validation failed: …"}``
  (unknown file, a purpose other than ``batch-api``, bytes not uploaded yet), not an error status.
  The spec lists only ``201`` with ``BatchJobWithWarning`` and ``400`` with a string error. Backed
  by: reference §3.2 and §11 item 5 (docs manage/tutorial pages; any-llm PR #1273); the ``together``
  3.1.1 SDK's ``types/batch_create_response.py`` types ``job`` as ``Optional[BatchJob]``. Pinned by
  ``tests/server/test_batches.py::test_unusable_input_gives_a_null_job_and_a_warning``.
* **Cancel answers** ``CANCELING`` (one L) for ``ServerConfig.cancel_seconds`` before ``CANCELLED``.
  The spec's ``BatchJobStatus`` and the ``together`` 3.1.1 SDK's ``types/batch_job.py`` lack it (the
  SDK passes the string through unvalidated). Backed by: reference §3.3 and §11 item 2 (the v1 SDK's
  ``types/batch.py`` enum, together-python PR #355; observed live by any-llm PR #1273). Pinned by
  ``tests/server/test_batches.py::test_cancel_goes_through_canceling_to_cancelled`` and
  ``tests/server/test_sdk_conformance.py::test_sdk_cancel_reports_canceling``.
"""

from __future__ import annotations

from airflow_provider_batch.testing.server.config import DEFAULT_MODELS, FAULT_KINDS, ServerConfig
from airflow_provider_batch.testing.server.process import server_process
from airflow_provider_batch.testing.server.remote import ControlClient
from airflow_provider_batch.testing.server.responder import count_tokens, respond
from airflow_provider_batch.testing.server.routing import ROUTE_TEMPLATES
from airflow_provider_batch.testing.server.runner import LocalTogetherServer

__all__ = [
    "DEFAULT_MODELS",
    "FAULT_KINDS",
    "ROUTE_TEMPLATES",
    "ControlClient",
    "LocalTogetherServer",
    "ServerConfig",
    "count_tokens",
    "respond",
    "server_process",
]
