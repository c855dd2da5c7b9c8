"""Together's Files and Batch API in the local test server (the default ``--vendor``).

Everything but the ``/v1`` routes is the shared server's (:mod:`airflow_provider_batch.testing.server`):
the store, the processing clock, the ``/_control`` plane and fault injection. Together adds its routes:
the 302 upload flow (``POST /v1/files`` -> ``PUT`` -> ``preprocess``), one-shot and multipart
uploads (:mod:`.routes_files`), and ``/v1/batches`` with its ``{job, warning}`` create answer
(:mod:`.routes_batches`).

::

    python -m airflow_provider_batch.testing.server --vendor together --api-key k --port 0

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

from airflow_provider_batch.vendors.together.server.app import build_app

__all__ = ["build_app"]
