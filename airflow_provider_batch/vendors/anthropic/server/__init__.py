"""Anthropic's Message Batches API in the local test server (``--vendor anthropic``).

Everything but the ``/v1`` routes is the shared server's: the store, the processing clock, the
``/_control`` plane and fault injection (``ServerConfig`` timings, ``inject`` on the route templates
below, ``force_status`` with the shared names ``COMPLETED``/``FAILED``/``EXPIRED``/``CANCELLED``,
``[[fail:CODE]]`` and ``[[fail-once:CODE]]`` markers, ``omit_line_fields`` on result lines;
``status_aliases`` names Together's statuses and does not apply). What Anthropic adds:

* routes: ``POST /v1/messages/batches`` (inline ``requests: [{custom_id, params}]``),
  ``GET /v1/messages/batches?limit=&after_id=&before_id=`` (newest first, ``has_more``,
  ``first_id``, ``last_id``), ``GET``/``DELETE /v1/messages/batches/{id}``,
  ``POST .../{id}/cancel`` and ``GET .../{id}/results`` (the JSONL behind ``results_url``);
* the ``message_batch`` object: ``processing_status`` ``in_progress`` / ``canceling`` / ``ended``,
  ``request_counts`` (``processing`` until the batch ends, then ``succeeded``, ``errored``,
  ``canceled``, ``expired``), ``created_at``, ``expires_at``, ``ended_at``,
  ``cancel_initiated_at``, ``archived_at`` (29 days after creation) and ``results_url``;
* result lines ``{custom_id, result: {type: succeeded | errored | canceled | expired}}``, a
  ``message`` with ``usage`` (``input_tokens``, ``output_tokens``, ``cache_creation_input_tokens``,
  ``cache_read_input_tokens``) for a success (:mod:`.answers`), partial results on cancel and
  expiry (:mod:`.processing`);
* validation of the create (:mod:`.routes`): ``custom_id`` ``^[a-zA-Z0-9_-]{1,64}$`` and unique,
  1 to 100,000 requests, 256 MB; ``params`` are checked per request when the batch runs;
* authentication, ``anthropic-version`` and error shapes at the edge (:mod:`.app`).

::

    python -m airflow_provider_batch.testing.server --vendor anthropic --api-key k --port 0
    LocalTogetherServer(ServerConfig(api_key="k"), vendor="anthropic")

Clients: the ``anthropic`` SDK takes the server's ``root_url`` as ``base_url`` (its paths start with
``/v1``); the provider's client takes ``base_url``.

Authentication, as each ``anthropic`` SDK sends it (read in the SDK's ``_client.py``): through
0.x and 1.x, ``X-Api-Key: KEY`` and ``anthropic-version: 2023-06-01``; the 2.x releases send
``Authorization: Bearer KEY`` for an ``api_key`` (and for an ``auth_token``) with
``anthropic-version: 2026-10-21``. Both are accepted; ``x-api-key``, when sent, alone decides.

Deliberate deviations from the live API. Each is a choice where Anthropic documents nothing, or a
simplification a test client cannot tell apart; tests in ``tests/server/anthropic`` pin them.

* **Any** ``anthropic-version`` **value is accepted**; only its absence is refused (400
  ``invalid_request_error``). The live API refuses versions it does not know, but each SDK release
  may send a newer date, and the emulation must not break on an SDK upgrade.
* **``params`` are not validated at create time.** Anthropic's batch guide says the ``params`` of
  each request are validated asynchronously and their errors come back as ``errored`` results once
  the batch has ended; the emulation does the same (a missing ``max_tokens`` gives an ``errored``
  result with ``invalid_request_error`` ``max_tokens: Field required``, an unknown model a
  ``not_found_error``). What the create itself refuses (400 ``invalid_request_error``, nothing
  created) is the shape the SDK's ``batch_create_params`` types fix: ``requests`` present and
  non-empty, each with a ``custom_id`` matching the pattern and an object ``params``, plus unique
  ``custom_id`` values and at most 100,000 requests (the guide's limits). A body over 256 MB is
  413 ``request_too_large`` (the guide's troubleshooting section). The messages of these errors
  are the emulation's wording.
* **Cancelling an ended batch is 400** ``invalid_request_error``; cancelling a ``canceling`` batch
  returns it unchanged. **Deleting a batch still processing is 400** (the guide: a batch must
  have ended, cancel it first). **Results of a batch not yet ended are 400**, of an archived batch
  404. **A paging cursor that names no batch is 400.** Anthropic does not document these answers.
* **Results are served as** ``application/binary`` (what the SDK's ``results()`` asks for in
  ``Accept``), with ``content-length``, so an injected ``truncate`` fault shows as a short read.
* **The shared control plane's** ``FAILED`` (``force_status``), which Anthropic's API has no
  status for, ends the batch with its unfinished requests ``errored`` with ``api_error``.
* **Injected faults** keep the shared statuses (429, 500, 502, 503) with Anthropic's error shape;
  a 503 has type ``api_error`` (the live API signals overload with 529 ``overloaded_error``, which
  a ``[[fail:overloaded_error]]`` marker gives for one request).
* **Prompt caching is simulated per batch**: a prefix of at least 1,024 tokens ending at the last
  ``cache_control`` block is written by the first request carrying it and read by the later ones
  (:mod:`.answers`); the live cache is shared across requests on a best-effort basis.
* **Result lines come out in a seeded shuffle** of the requests, not in request order (the guide
  warns the order is not kept); ids are ``msgbatch_01`` plus 22 random characters.
"""

from __future__ import annotations

from airflow_provider_batch.vendors.anthropic.server.app import build_app

__all__ = ["build_app"]
