"""Cases of the vendor-parametrised suites that do not run on Anthropic, and why (the root
conftest reads ``NOT_APPLICABLE`` and ``PENDING`` here for every registered vendor).

Each asserts something Anthropic's API does not have (input files, a FAILED batch status, Together's
fault routes) or a request shape it refuses. Anthropic's own tests of these behaviours are in
tests/vendors/anthropic (lost creates, statuses, results) and tests/doctor.
"""

from __future__ import annotations

_NO_UPLOAD = "counts file uploads; Anthropic's requests go inline in the create"
_NO_FAILED = (
    "forces a FAILED batch; Anthropic's batches never fail as a whole (a failed request is an errored result)"
)
_MAX_TOKENS = (
    "its requests lack max_tokens, which Messages requires: validation refuses the line "
    "(max_tokens_missing) before the budget guard"
)
_HOSTILE_IDS = (
    "its custom_ids break Anthropic's ^[a-zA-Z0-9_-]{1,64}$, which validation refuses before any spend; "
    "test_hostile_values_under_mapped_custom_ids_are_stored_exactly_on_anthropic runs them mapped"
)
_LOST_CREATES = "tests/vendors/anthropic/test_anthropic_lost_create.py kills the submit at each point"
#: Folders of tests/ not run on Anthropic yet -> why (none: tests/pipeline runs on Anthropic).
PENDING: dict[str, str] = {}
#: ``file::test[params]`` or ``file::test`` -> why it does not apply to Anthropic.
NOT_APPLICABLE: dict[str, str] = {
    "test_idempotency.py::test_retry_reattaches_through_the_ledger_without_listing_anything": _NO_UPLOAD,
    "test_idempotency.py::test_a_create_interrupted_before_it_reached_the_server_is_sent_once": (
        f"{_NO_UPLOAD}; {_LOST_CREATES}"
    ),
    "test_idempotency.py::test_unknown_batches_on_our_own_file_are_never_guessed_between": (
        f"looks for batches on the part's input file; Anthropic's lost creates are settled by the ledger "
        f"({_LOST_CREATES})"
    ),
    "test_idempotency.py::test_failed_batch_is_not_paid_for_twice_unless_forced": _NO_FAILED,
    "test_idempotency.py::test_a_crash_after_the_bytes_arrived_reuses_the_file": (
        "re-uses an uploaded file; Anthropic has no files (a part is staged again on every try)"
    ),
    "test_trigger_batch.py::test_terminal_outcomes[anthropic-FAILED]": _NO_FAILED,
    "test_sensor_batch.py::test_sensor_fails_on_a_failed_batch": _NO_FAILED,
    "test_trigger_batch.py::test_unknown_status_is_logged_and_polling_continues": (
        "sets a status the Anthropic emulation shows as in_progress; an unknown processing_status is "
        "tests/vendors/anthropic/test_anthropic_client.py's"
    ),
    "test_operator_guards.py::test_missing_max_tokens_is_refused_before_upload": _MAX_TOKENS,
    "test_operator_guards.py::test_assumed_max_tokens_lets_it_through": _MAX_TOKENS,
    "test_operator_guards.py::test_max_tokens_in_the_body_is_a_remedy_that_works": _MAX_TOKENS,
    "test_operator_guards.py::test_an_unpriced_model_under_a_budget_names_remedies_that_work": _MAX_TOKENS,
    "test_follow_up_pipeline.py::test_delete_input_files_removes_the_uploaded_inputs_once_loaded": (
        f"{_NO_UPLOAD}: there is no input file to delete (test_a_rerun_after_delete_input_files_loads_"
        "every_answer_and_error_again runs on Anthropic, where it deletes none)"
    ),
    "test_hostile_pipeline.py::test_hostile_values_are_stored_exactly_in_sqlite": _HOSTILE_IDS,
    "test_hostile_pipeline.py::test_hostile_values_are_stored_exactly_in_a_database_server": _HOSTILE_IDS,
    "test_commonai_adapter.py::test_submit_again_reattaches_but_a_failed_batch_is_replaced": _NO_FAILED,
    "test_commonai_adapter.py::test_failed_batch_carries_the_error_text": _NO_FAILED,
    "test_commonai_adapter.py::test_the_newest_matching_batch_wins": (
        f"{_NO_FAILED}; test_an_expired_batch_is_replaced_by_the_newest runs it with an ended batch"
    ),
    "test_operator_guards.py::test_n_completions_count_against_the_budget": (
        "counts n completions per request; Messages has no n"
    ),
}
