"""The task instance that owns batches and rows, and the one hash that names it.

A task instance is ``(dag_id, task_id, run_id, map_index)``, never its try number: a retry or a
clear is the same owner. Its hash is the SHA-256 of the four parts joined by U+001F (UTF-8, the map
index in decimal, an unknown part as ``""``). The submission ledger stores the whole hex digest
(``identity_key``); results and spend tables store its first 32 characters (``owner_key``), short
enough for every database's index limit. Both are written by tables that outlive releases, so
:func:`identity_digest` must never change.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["OWNER_KEY_LENGTH", "TaskIdentity", "identity_digest", "owner_key"]

#: Characters of the digest kept as a results or spend row's ``owner_key``.
OWNER_KEY_LENGTH = 32
_SEPARATOR = "\x1f"


def identity_digest(
    dag_id: str | None, task_id: str | None, run_id: str | None, map_index: int | None
) -> str:
    """64 hex characters: the SHA-256 of ``dag_id \\x1f task_id \\x1f run_id \\x1f map_index``.

    The one place the hash is computed (the SQL that gives rows of an older table their key
    repeats the same text in SQL). An unknown part (``None``) hashes as ``""``.
    """
    return joined_digest(dag_id, task_id, run_id, map_index)


def joined_digest(*values: object) -> str:
    """64 hex characters: the SHA-256 of the values' text joined by U+001F (UTF-8; ``None`` and
    ``""`` as ``""``). :func:`identity_digest` is this over a task instance's four fields; the
    dialects' SQL digest (``SqlDialect.digest_sql``) computes the same in the database."""
    raw = _SEPARATOR.join("" if value is None else str(value) for value in values)
    return hashlib.sha256(raw.encode()).hexdigest()


def owner_key(dag_id: str | None, task_id: str | None, run_id: str | None, map_index: int | None) -> str:
    """32 hex characters identifying a task instance: :func:`identity_digest` cut short.

    Compact, so a key ``(owner_key, batch_id, custom_id)`` fits every database's index limit, and
    computable in SQL, so an existing table's rows can be given theirs in one statement.
    """
    return identity_digest(dag_id, task_id, run_id, map_index)[:OWNER_KEY_LENGTH]


@dataclass(frozen=True)
class TaskIdentity:
    """The task instance a submission and its rows belong to, across tries and clears.

    It travels in the submit task's XCom manifest as ``{"dag_id", "task_id", "run_id",
    "map_index"}`` (as ``owner``) and keys the submission ledger (:attr:`key`).
    """

    dag_id: str
    task_id: str
    run_id: str
    map_index: int = -1

    @classmethod
    def from_context(cls, context: Any) -> TaskIdentity:
        """The identity of the running task instance (an unmapped task has map index -1)."""
        ti = context["ti"]
        map_index = getattr(ti, "map_index", None)
        return cls(ti.dag_id, ti.task_id, ti.run_id, -1 if map_index is None else int(map_index))

    @property
    def key(self) -> str:
        """The ledger's ``identity_key``: the whole :func:`identity_digest`."""
        return identity_digest(self.dag_id, self.task_id, self.run_id, self.map_index)

    @property
    def owner_key(self) -> str:
        """The results and spend tables' ``owner_key``: :func:`owner_key`."""
        return self.key[:OWNER_KEY_LENGTH]

    def as_dict(self) -> dict[str, Any]:
        """The four fields as plain data (the manifest's ``owner``, keyword arguments)."""
        return asdict(self)

    def part_filename(self, sha256: str, index: int) -> str:
        """A readable upload name; only for people reading the Files list, never for look-ups."""
        return f"apb-{self.key[:12]}-{sha256[:16]}-p{index:04d}.jsonl"
