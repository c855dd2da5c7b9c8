"""Anthropic's Message Batches API: ``client/`` speaks it over httpx (no Airflow imports),
:mod:`.vendor` binds it to the vendor contract, :mod:`.prices` holds its batch prices and
:mod:`.custom_ids` the reversible ``custom_id`` mapping."""
