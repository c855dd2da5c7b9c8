"""The outcome store: what each results task loaded from each batch (counts, tokens, spend,
failures by error code, and where the rows went)."""

from __future__ import annotations

import json
from typing import Any

from airflow_provider_batch.ledger._store import _OUTCOME_SCALARS, LedgerStore, _iso
from airflow_provider_batch.ledger.records import BatchOutcome

__all__ = ["Outcomes"]


class Outcomes(LedgerStore):
    """Writes outcomes; a re-load replaces the loading task's earlier outcome of that batch and
    table (reading them is the store's :meth:`~LedgerStore.outcomes_for`)."""

    def record_outcome(self, outcome: BatchOutcome) -> None:
        """Store what a results task loaded from a batch, replacing that task's earlier outcome
        for the same batch and table (a re-load reports what the table now holds)."""
        self.ensure()
        values: dict[str, Any] = {
            name: getattr(outcome, name) for name in _OUTCOME_SCALARS if name != "identity_key"
        }
        values["identity_key"] = outcome.identity.key
        values["loaded_at"] = _iso(outcome.loaded_at)
        values["failures_json"] = json.dumps([f.model_dump() for f in outcome.failures])
        key = (outcome.batch_id, values["identity_key"], outcome.results_table)
        delete = self._sql("DELETE FROM {o} WHERE batch_id = ? AND identity_key = ? AND results_table = ?")
        insert = self._sql(
            f"INSERT INTO {{o}} ({', '.join(values)}) VALUES ({', '.join('?' for _ in values)})"
        )
        with self._tx() as cur:
            cur.execute(delete, key)
            cur.execute(insert, tuple(values.values()))

    def mark_answered(self, batch_id: str, follow_up_batch_id: str, answered: dict[str, int]) -> int:
        """Note on ``batch_id``'s outcomes that ``follow_up_batch_id`` answered some of its failures
        (error code -> how many); a second call for the same follow-up changes nothing. Returns how
        many outcomes changed."""
        changed = 0
        for outcome in self.outcomes_for([batch_id]):
            buckets = []
            for bucket in outcome.failures:
                n = answered.get(bucket.code, 0)
                if n and follow_up_batch_id not in bucket.answered_by:
                    bucket = bucket.model_copy(
                        update={
                            "answered": min(bucket.answered + n, bucket.count),
                            "answered_by": [*bucket.answered_by, follow_up_batch_id],
                        }
                    )
                buckets.append(bucket)
            if buckets != outcome.failures:
                self.record_outcome(outcome.model_copy(update={"failures": buckets}))
                changed += 1
        return changed
