"""Moved to :mod:`airflow_provider_batch.ledger.location` (where the ledger lives; it is not a
hook). These names still import from here."""

from airflow_provider_batch.ledger.location import LEDGER_SECTION, get_ledger, ledger_location

__all__ = ["LEDGER_SECTION", "get_ledger", "ledger_location"]
