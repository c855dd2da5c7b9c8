"""Warehouse tables: the SQL dialects (:mod:`.dialects`) the results loader and the submission
ledger write through."""
