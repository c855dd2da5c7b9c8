"""The identity hashes are written into ledgers and results tables that outlive releases: these
values were computed by the release before the hash moved to ``core.identity``, and must never
change."""

from __future__ import annotations

import dataclasses

import pytest

from airflow_provider_batch.core.identity import TaskIdentity, identity_digest, owner_key

PINNED = [
    (
        ("daily_eval", "submit", "scheduled__2026-01-01T00:00:00+00:00", -1),
        "a4b61c0ace754c65bdea017e1c46f96dddfc9a4aefe47b6897bb91da24ba74ad",
    ),
    (("d", "t", "manual__1", 3), "2ab370f2c19bbce4a19904f311e9dc515b25c4cece5867ecd7616f9e57acb3e8"),
    (("dág ünï", "tâsk", "run/ü", 0), "2314970689fef4f76a7c8321517eda385f7351c7b1bb86f36cdfd621b8cd0df5"),
    (
        ("common.ai", "llm_batch", "key-123", -1),
        "6b89f3fd4d9d50be676e6d14562cc1d98555ccc2fa8c2681b99855d9ae9b5e21",
    ),
]


@pytest.mark.parametrize(("parts", "digest"), PINNED)
def test_ledger_key_and_owner_key_are_pinned(parts: tuple, digest: str) -> None:
    from airflow_provider_batch.ledger import TaskIdentity as LedgerIdentity
    from airflow_provider_batch.results.models import RunContext
    from airflow_provider_batch.results.models import owner_key as results_owner_key

    identity = TaskIdentity(*parts)
    assert identity.key == identity_digest(*parts) == LedgerIdentity(*parts).key == digest
    assert identity.owner_key == owner_key(*parts) == results_owner_key(*parts) == digest[:32]
    dag_id, task_id, run_id, map_index = parts
    run = RunContext(dag_id, run_id, None, None, task_id, map_index)
    assert run.owner_key == digest[:32]
    assert identity.part_filename("ab" * 32, 7) == f"apb-{digest[:12]}-abababababababab-p0007.jsonl"


def test_legacy_and_unknown_owner_keys_are_pinned() -> None:
    from airflow_provider_batch.results.models import RunContext

    # Rows loaded before rows had owners: task and map index unknown (hashed as "").
    assert RunContext("d", "manual__1").legacy_key == "427d1dafa329eef623c054fb11e313f9"
    assert RunContext("d", "manual__1").owner_key == "427d1dafa329eef623c054fb11e313f9"
    assert owner_key(None, None, None, None) == "c60b1f6ce4ac96cdb68fdab9e25e13fc"


def test_one_identity_type_under_every_old_name() -> None:
    from airflow_provider_batch import idempotency, ledger, manifest

    assert ledger.TaskIdentity is idempotency.TaskIdentity is manifest.SubmitOwner is TaskIdentity
    assert dataclasses.is_dataclass(TaskIdentity)
    identity = TaskIdentity("d", "t", "r", 2)
    with pytest.raises(dataclasses.FrozenInstanceError):
        identity.run_id = "other"  # type: ignore[misc]
    # The submit operator builds its manifest owner this way; keep it working.
    assert manifest.SubmitOwner(**vars(identity)) == identity


def test_a_manifest_of_the_previous_release_still_reads() -> None:
    """A deferred results task reads the submit task's XCom written by the release before."""
    from airflow_provider_batch.manifest import SubmitManifest

    owner = {"dag_id": "d", "task_id": "submit", "run_id": "manual__1", "map_index": 3}
    manifest = SubmitManifest.model_validate({"batches": [], "owner": owner, "ledger_conn_id": "db"})
    assert manifest.owner == TaskIdentity("d", "submit", "manual__1", 3)
    assert manifest.to_xcom()["owner"] == owner
    legacy = SubmitManifest.model_validate({"batches": [], "owner": {**owner, "note": "ignored"}})
    assert legacy.owner is not None and legacy.owner.key == TaskIdentity(**owner).key
    assert SubmitManifest.model_validate({"batches": []}).owner is None


class _TI:
    dag_id, task_id, run_id, map_index = "d", "t", "manual__1", None


def test_from_context_reads_the_task_instance() -> None:
    assert TaskIdentity.from_context({"ti": _TI()}) == TaskIdentity("d", "t", "manual__1", -1)
