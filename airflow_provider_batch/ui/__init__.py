"""The "Together batches" page of the Airflow UI: its plugin, API and page (no Airflow imports here)."""
